"""The store the settings name: the session files, or a PostgreSQL database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mamba_agents.store._base import Store
from mamba_agents.store._postgres import PostgresStore
from mamba_agents.store._store import SessionStore

if TYPE_CHECKING:
    from mamba_agents.config import AgentSettings


def open_store(settings: AgentSettings | None = None) -> Store:
    """`[store] url` (or `MAMBA_STORE__URL`) when set, else the session files in
    `$MAMBA_HOME/sessions`."""
    url = settings.store.url.get() if settings is not None and settings.store.url else ""
    return PostgresStore(url) if url else SessionStore()
