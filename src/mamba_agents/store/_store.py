"""Session files on disk: atomic writes under a lock, lookups by id, prefix or state id."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mamba_agents.errors import SessionError
from mamba_agents.paths import sessions_dir
from mamba_agents.store._session import Session
from mamba_agents.store._usage_index import UsageIndex

log = logging.getLogger("mamba_agents.store")


@dataclass(frozen=True)
class SessionRef:
    """What a reference resolved to: a session, and the state named (None: its head)."""

    session: Session
    state_id: str | None

    @property
    def is_head(self) -> bool:
        return self.state_id is None or self.state_id == self.session.head


class SessionStore:
    """One JSON file per session in `root` (default `$MAMBA_HOME/sessions`)."""

    def __init__(self, root: str | os.PathLike[str] | None = None):
        self.root = Path(root) if root is not None else sessions_dir()
        self.index = UsageIndex(self.root)
        # (mtime_ns, size) of each file as we last read or wrote it.
        self._seen: dict[str, tuple[int, int]] = {}
        # States of each session the usage index is known to hold.
        self._indexed: dict[str, set[str]] = {}

    def path_for(self, session_id: str) -> Path:
        return self.root / f"{session_id}.json"

    @contextlib.contextmanager
    def _lock(self, session_id: str) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{session_id}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _stamp(self, path: Path) -> tuple[int, int] | None:
        try:
            info = path.stat()
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_size

    def load(self, session_id: str) -> Session:
        """Read one session by its full id."""
        path = self.path_for(session_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SessionError(f"no session {session_id}") from None
        except OSError as exc:
            raise SessionError(f"{path}: cannot read: {exc.strerror}") from None
        session = Session.from_json(text, str(path))
        stamp = self._stamp(path)
        if stamp:
            self._seen[session_id] = stamp
            with contextlib.suppress(sqlite3.Error, OSError):
                if self.index.is_current(path, stamp):
                    self._indexed[session.id] = set(session.states)
        return session

    def save(self, session: Session) -> Path:
        """Write the session atomically. Work another process saved meanwhile is merged in,
        never lost; a damaged file on disk is never overwritten."""
        path = self.path_for(session.id)
        try:
            with self._lock(session.id):
                stamp = self._stamp(path)
                if stamp is not None and stamp != self._seen.get(session.id):
                    on_disk = Session.from_json(path.read_text(encoding="utf-8"), str(path))
                    session.merge(on_disk)
                self._atomic_write(path, session.to_json())
                new_stamp = self._stamp(path)
                if new_stamp:
                    self._seen[session.id] = new_stamp
        except OSError as exc:
            raise SessionError(
                f"cannot save session {session.id} in {self.root}: {exc.strerror or exc}"
            ) from None

        known = self._indexed.get(session.id)
        try:
            new = None if known is None else [s for s in session.states if s not in known]
            self.index.record(session, path, new)
            self._indexed[session.id] = set(session.states)
        except (sqlite3.Error, OSError) as exc:
            # The file is saved; the next report reconciles the index with it.
            log.warning("usage index not updated for %s: %s", session.id, exc)
        return path

    def _atomic_write(self, path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def delete(self, session_id: str) -> None:
        path = self.path_for(session_id)
        with self._lock(session_id):
            try:
                path.unlink()
            except FileNotFoundError:
                raise SessionError(f"no session {session_id}") from None
        with contextlib.suppress(FileNotFoundError):
            (self.root / f".{session_id}.lock").unlink()

    def files(self) -> list[Path]:
        """Session files, newest modification first."""
        if not self.root.is_dir():
            return []
        paths = [p for p in self.root.glob("*.json") if not p.name.startswith(".")]
        return sorted(paths, key=lambda p: p.stat().st_mtime_ns, reverse=True)

    def load_all(self) -> tuple[list[Session], list[str]]:
        """Every readable session (newest first) and one warning per damaged file."""
        sessions, warnings = [], []
        for path in self.files():
            try:
                sessions.append(self.load(path.stem))
            except SessionError as exc:
                warnings.append(str(exc))
        sessions.sort(key=lambda s: s.updated_at, reverse=True)
        return sessions, warnings

    def latest(self) -> Session | None:
        """The most recently updated readable session."""
        for path in self.files():
            try:
                return self.load(path.stem)
            except SessionError:
                continue
        return None

    def resolve(self, ref: str) -> SessionRef:
        """A session id, a unique prefix of one, or the id (or unique prefix) of a state."""
        ref = ref.strip()
        if not ref:
            raise SessionError("empty session reference")
        ids = [p.stem for p in self.files()]
        if ref in ids:
            return SessionRef(self.load(ref), None)
        matches = [i for i in ids if i.startswith(ref)]
        if len(matches) == 1:
            return SessionRef(self.load(matches[0]), None)
        if len(matches) > 1:
            raise SessionError(
                f"session reference '{ref}' is ambiguous: matches {', '.join(sorted(matches)[:5])}"
            )
        return self._resolve_state(ref)

    def _resolve_state(self, ref: str) -> SessionRef:
        found: list[tuple[Session, str]] = []
        needle = f'"id":"{ref}'
        for path in self.files():
            try:
                if needle not in path.read_text(encoding="utf-8"):
                    continue
                session = self.load(path.stem)
            except (OSError, SessionError):
                continue
            found += [(session, s) for s in session.states if s.startswith(ref)]
        if not found:
            raise SessionError(f"no session or state matches '{ref}'")
        if len(found) > 1:
            raise SessionError(f"state reference '{ref}' is ambiguous")
        return SessionRef(*found[0])
