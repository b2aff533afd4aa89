"""Sessions: the data model, and the stores that keep them (files, PostgreSQL)."""

from mamba_agents.store._base import ReportIndex, Reports, SessionRef, Store
from mamba_agents.store._index_queries import HIT_END, HIT_START, RequestSum, SearchHit
from mamba_agents.store._index_rows import priced_ids
from mamba_agents.store._open import open_store
from mamba_agents.store._postgres import PostgresStore, is_postgres_url, redact_url
from mamba_agents.store._session import FORMAT, VERSION, Session, State
from mamba_agents.store._store import SessionStore
from mamba_agents.store._usage_index import Refresh, UsageIndex
from mamba_agents.store._user import request_user

__all__ = [
    "FORMAT",
    "HIT_END",
    "HIT_START",
    "VERSION",
    "PostgresStore",
    "Refresh",
    "ReportIndex",
    "Reports",
    "RequestSum",
    "SearchHit",
    "Session",
    "SessionRef",
    "SessionStore",
    "State",
    "Store",
    "UsageIndex",
    "is_postgres_url",
    "open_store",
    "priced_ids",
    "redact_url",
    "request_user",
]
