"""Session files: the data model and the store that reads and writes them."""

from mamba_agents.store._session import FORMAT, VERSION, Session, State
from mamba_agents.store._store import SessionRef, SessionStore

__all__ = ["FORMAT", "VERSION", "Session", "SessionRef", "SessionStore", "State"]
