"""Session files on disk: atomic writes under a lock, lookups by id, prefix or state id."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from mamba_agents.errors import SessionError
from mamba_agents.paths import sessions_dir
from mamba_agents.store._base import Reports, SessionRef, Store
from mamba_agents.store._records import is_session_id
from mamba_agents.store._session import (
    TEMP_SUFFIX,
    Session,
    open_regular,
    read_text,
    scan_folder,
)
from mamba_agents.store._usage_index import UsageIndex

log = logging.getLogger("mamba_agents.store")
TEMP_AGE = 60  # seconds: a save's temp file older than this, and unlocked, was abandoned


class SessionStore(Store):
    """One JSON file per session in `root` (default `$MAMBA_HOME/sessions`)."""

    def __init__(self, root: str | os.PathLike[str] | None = None):
        self.root = Path(root) if root is not None else sessions_dir()
        self.where = str(self.root)
        self.index = UsageIndex(self.root)
        # (mtime_ns, size) of each file as we last read or wrote it.
        self._seen: dict[str, tuple[int, int]] = {}
        # States of each session the usage index is known to hold.
        self._indexed: dict[str, set[str]] = {}

    def path_for(self, session_id: str) -> Path:
        """The file of a session. Only a session id (a UUID) ever becomes a path."""
        if not is_session_id(session_id):
            raise SessionError(f"{session_id!r} is not a session id")
        return self.root / f"{session_id}.json"

    def _lock_path(self, session_id: str) -> Path:
        return self.path_for(session_id).with_name(f".{session_id}.lock")

    @contextlib.contextmanager
    def _lock(self, session_id: str) -> Iterator[None]:
        lock_path = self._lock_path(session_id)
        self.root.mkdir(parents=True, exist_ok=True)
        with os.fdopen(
            open_regular(lock_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "a"
        ) as handle:
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
        session = self._read(self.path_for(session_id))
        if session is None:
            raise SessionError(f"no session {session_id}")
        return session

    def _read(self, path: Path) -> Session | None:
        """The session in `path`, None when the file is gone; SessionError when damaged."""
        text = read_text(path)
        return None if text is None else self._parse(text, path)

    def _parse(self, text: str, path: Path) -> Session:
        session = Session.from_json(text, path)
        stamp = self._stamp(path)
        if stamp:
            self._seen[session.id] = stamp
            with contextlib.suppress(sqlite3.Error, OSError):
                if self.index.is_current(path, stamp):
                    self._indexed[session.id] = set(session.states)
        return session

    def save(self, session: Session) -> None:
        """Write the session atomically. Work another process saved meanwhile is merged in,
        never lost; a damaged file on disk is never overwritten."""
        path = self.path_for(session.id)
        try:
            with self._lock(session.id):
                stamp = self._stamp(path)
                if stamp is not None and stamp != self._seen.get(session.id):
                    text = read_text(path)
                    if text is not None:
                        session.merge(Session.from_json(text, path))
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

    def _atomic_write(self, path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{path.stem}.", suffix=TEMP_SUFFIX)
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
        """Remove a session's file (a damaged one too: the name says which)."""
        path = self.path_for(session_id)
        try:
            with self._lock(session_id):
                try:
                    path.unlink()
                except FileNotFoundError:
                    raise SessionError(f"no session {session_id}") from None
        except OSError as exc:
            raise SessionError(
                f"cannot delete session {session_id} in {self.root}: {exc.strerror or exc}"
            ) from None
        with contextlib.suppress(OSError):
            self._lock_path(session_id).unlink()

    def files(self) -> list[Path]:
        """Session files, newest modification first. Listing also removes the temp files
        of saves that were killed before they finished."""
        files, temps = scan_folder(self.root)
        for entry in temps:
            self._remove_if_abandoned(entry)
        newest_first = sorted(files.items(), key=lambda item: item[1][0], reverse=True)
        return [Path(path) for path, _ in newest_first]

    def _remove_if_abandoned(self, temp: os.DirEntry[str]) -> bool:
        """Remove a save's temp file that is over a minute old and whose session lock no
        writer holds (a writer keeps the lock from creating its temp file to renaming it)."""
        session_id = temp.name[1:].partition(".")[0]
        with contextlib.suppress(OSError, SessionError):
            if is_session_id(session_id) and time.time() - temp.stat().st_mtime >= TEMP_AGE:
                with self._lock_if_free(session_id):
                    os.unlink(temp.path)
                    return True
        return False

    @contextlib.contextmanager
    def _lock_if_free(self, session_id: str) -> Iterator[None]:
        """Hold the session's lock; BlockingIOError when someone else holds it. A session
        without a lock file has no writer."""
        try:
            handle: int | None = open_regular(self._lock_path(session_id), os.O_RDONLY)
        except FileNotFoundError:
            handle = None
        try:
            if handle is not None:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            yield
        finally:
            if handle is not None:
                os.close(handle)

    def list_sessions(
        self, limit: int | None = None, offset: int = 0
    ) -> tuple[list[Session], list[str]]:
        """Sessions, newest first, and one warning per damaged file met on the way (a file
        whose name is not a session id included)."""
        sessions: list[Session] = []
        warnings: list[str] = []
        for path in self.files():
            if limit is not None and len(sessions) >= offset + limit:
                break
            try:
                session = self._read(path)
            except SessionError as exc:
                warnings.append(str(exc))
                continue
            if session is not None:
                sessions.append(session)
        sessions.sort(key=lambda s: s.updated_at, reverse=True)
        return sessions[offset:], warnings

    def ids(self) -> list[str]:
        """The session ids the files are named by, newest modification first (the files
        are not read)."""
        return [p.stem for p in self.files() if is_session_id(p.stem)]

    def _states_matching(self, prefix: str) -> list[SessionRef]:
        found: list[SessionRef] = []
        needle = f'"id":"{prefix}'
        for path in self.files():
            try:
                text = read_text(path)
                if text is None or needle not in text:
                    continue
                session = self._parse(text, path)
            except SessionError:
                continue
            found += [SessionRef(session, s) for s in session.states if s.startswith(prefix)]
        return found

    def reports(self, *, rebuild: bool = False) -> Reports:
        """The usage index in the folder, reconciled with the files; when it cannot be
        used (a read-only folder, a broken database), a fresh one in memory."""
        try:
            refresh = self.index.refresh(rebuild=rebuild)
            return Reports(self.index, refresh.warnings)
        except (sqlite3.Error, OSError) as exc:
            index = UsageIndex(self.root, in_memory=True)
            refresh = index.refresh()
            return Reports(index, refresh.warnings, f"{self.index.path}: {exc}")

    def gc(self) -> int:
        """Remove the temp files of saves that were killed (listing does it too)."""
        return sum(self._remove_if_abandoned(temp) for temp in scan_folder(self.root)[1])
