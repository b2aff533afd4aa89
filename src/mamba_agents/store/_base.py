"""The session store interface: what every store (files, PostgreSQL) does the same way."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from mamba_agents.errors import SessionError
from mamba_agents.store._session import Session

if TYPE_CHECKING:
    from mamba_agents.store._index_queries import RequestSum, SearchHit


@dataclass(frozen=True)
class SessionRef:
    """What a reference resolved to: a session, and the state named (None: its head)."""

    session: Session
    state_id: str | None

    @property
    def is_head(self) -> bool:
        return self.state_id is None or self.state_id == self.session.head


class ReportIndex(Protocol):
    """The queries behind `mamba usage` and `mamba sessions search`."""

    def request_sums(
        self,
        group_by: str,
        *,
        start: float | None = None,
        stop: float | None = None,
        session_prefix: str | None = None,
        cwd: str | None = None,
        bucket_seconds: int = 900,
    ) -> list[RequestSum]: ...

    def session_labels(self) -> dict[str, tuple[str, str, str]]: ...

    def search(
        self,
        words: str,
        *,
        start: float | None = None,
        cwd: str | None = None,
        model: str | None = None,
        limit: int = 20,
        marks: tuple[str, str] = ...,
    ) -> list[SearchHit]: ...


@dataclass
class Reports:
    """An index ready for reports; `warnings` name damaged sessions left out; `index_error`
    says why the store's own index could not be used (the reports then come from a fresh
    one)."""

    index: ReportIndex
    warnings: list[str] = field(default_factory=list)
    index_error: str | None = None


class Store(ABC):
    """Where sessions are kept. States and messages are only ever added; saving a session
    another process saved meanwhile keeps both's work (the later save's head is the
    session's head, the other turn stays a branch)."""

    where: str
    """The store as a person may see it: a folder, or a URL without its password."""

    # -- what each store does its own way ----------------------------------------------------
    @abstractmethod
    def load(self, session_id: str) -> Session:
        """Read one session by its full id (SessionError when missing or damaged)."""

    @abstractmethod
    def save(self, session: Session) -> None:
        """Write what the session holds that the store lacks."""

    @abstractmethod
    def delete(self, session_id: str) -> None:
        """Remove a session (a damaged one too)."""

    @abstractmethod
    def ids(self) -> list[str]:
        """Every session's id, most recently updated first (the sessions are not read)."""

    @abstractmethod
    def reports(self, *, rebuild: bool = False) -> Reports:
        """The index for usage reports and search, brought up to date."""

    @abstractmethod
    def _states_matching(self, prefix: str) -> list[SessionRef]:
        """The states whose id starts with `prefix`, with their sessions."""

    @abstractmethod
    def list_sessions(
        self, limit: int | None = None, offset: int = 0
    ) -> tuple[list[Session], list[str]]:
        """Sessions, most recently updated first (`limit` of them after skipping `offset`),
        and one warning per damaged session met on the way."""

    # -- the same for every store ------------------------------------------------------------
    def latest(self) -> tuple[Session | None, list[str]]:
        """The most recently updated readable session, and one warning per newer damaged
        one skipped to reach it."""
        sessions, warnings = self.list_sessions(limit=1)
        return (sessions[0] if sessions else None), warnings

    def count_sessions(self) -> int:
        return len(self.ids())

    def find_by_title(self, title: str) -> list[Session]:
        """The readable sessions titled exactly `title`, newest first."""
        return [s for s in self.list_sessions()[0] if s.title == title]

    def create_session(
        self, *, title: str = "", model: str | None = None, cwd: str | None = None
    ) -> Session:
        """A new empty session, saved."""
        session = Session(title=title, model=model)
        if cwd is not None:
            session.cwd = cwd
        self.save(session)
        return session

    def load_session(self, session_id: str) -> Session:
        """`load` by its immagent name."""
        return self.load(session_id)

    def match_id(self, ref: str) -> str | None:
        """The session id that `ref` is, or uniquely starts (None: none does)."""
        ref = ref.strip()
        if not ref:
            raise SessionError("empty session reference")
        ids = self.ids()
        if ref in ids:
            return ref
        matches = [i for i in ids if i.startswith(ref)]
        if len(matches) > 1:
            raise SessionError(
                f"session reference '{ref}' is ambiguous: matches {', '.join(sorted(matches)[:5])}"
            )
        return matches[0] if matches else None

    def resolve(self, ref: str) -> SessionRef:
        """A session id, a unique prefix of one, or the id (or unique prefix) of a state."""
        session_id = self.match_id(ref)
        if session_id is not None:
            return SessionRef(self.load(session_id), None)
        found = self._states_matching(ref.strip())
        if not found:
            raise SessionError(f"no session or state matches '{ref.strip()}'")
        if len(found) > 1:
            raise SessionError(f"state reference '{ref.strip()}' is ambiguous")
        return found[0]

    def ping(self) -> bool:
        """Whether the store can be reached."""
        return True

    def init_schema(self) -> None:
        """Create or upgrade what the store keeps sessions in (done on first use too)."""
        return None

    def gc(self) -> int:
        """Remove what no session reaches; how many things were removed."""
        return 0

    def close(self) -> None:
        """Let go of connections and files."""
        return None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
