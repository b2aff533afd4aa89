"""Session files: the data model and the store that reads and writes them."""

from mamba_agents.store._session import FORMAT, VERSION, Session, State
from mamba_agents.store._store import SessionRef, SessionStore
from mamba_agents.store._usage_index import (
    HIT_END,
    HIT_START,
    Refresh,
    RequestSum,
    SearchHit,
    UsageIndex,
    priced_ids,
)

__all__ = [
    "FORMAT",
    "HIT_END",
    "HIT_START",
    "VERSION",
    "Refresh",
    "RequestSum",
    "SearchHit",
    "Session",
    "SessionRef",
    "SessionStore",
    "State",
    "UsageIndex",
    "priced_ids",
]
