"""The usage index: one row per model request, kept in SQLite beside the session files.

Session files stay the source of truth. Saving a session updates its rows; before a report the
index is reconciled with the files on disk (new, changed or deleted files by modification
time and size), so a missing or stale index rebuilds itself and deleting it loses nothing.
SQLite's locking makes concurrent writers safe.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mamba_agents.errors import SessionError
from mamba_agents.store._session import Session, checked_document, read_text, scan_folder

log = logging.getLogger("mamba_agents.store")
SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, path TEXT UNIQUE, mtime_ns INTEGER, size INTEGER,
    cwd TEXT, title TEXT, updated_at TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS requests (
    message_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, ts REAL NOT NULL, model TEXT,
    input INTEGER, output INTEGER, cache_read INTEGER, cache_write INTEGER,
    cost REAL, source TEXT);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
CREATE INDEX IF NOT EXISTS requests_session ON requests (session_id);
"""


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def request_rows(
    session_id: str, added: Iterable[str], record_of: Callable[[str], dict[str, Any]]
) -> list[tuple[object, ...]]:
    """One row per assistant message with usage among the `added` message ids (the ones the
    session's own states added: messages a fork copied belong to its origin)."""
    rows = []
    for message_id in added:
        record = record_of(message_id)
        usage = record.get("usage")
        if record.get("role") != "assistant" or not usage:
            continue
        rows.append(
            (
                message_id,
                session_id,
                _epoch(record["created_at"]),
                record.get("model") or "",
                int(usage.get("input_tokens") or 0),
                int(usage.get("output_tokens") or 0),
                int(usage.get("cache_read_tokens") or 0),
                int(usage.get("cache_write_tokens") or 0),
                record.get("cost_usd") or 0.0,
                record.get("cost_source") or "unpriced",
            )
        )
    return rows


def session_rows(
    session: Session, state_ids: Iterable[str] | None = None
) -> list[tuple[object, ...]]:
    """Rows for a session's states (or the states named)."""
    states = (
        session.states.values() if state_ids is None else (session.states[s] for s in state_ids)
    )
    added = [mid for state in states for mid in state.added]
    return request_rows(session.id, added, lambda mid: session.messages[mid].to_record())


@dataclass(frozen=True)
class _Document:
    """What the index needs of a session file, read without building messages."""

    id: str
    cwd: str
    title: str
    updated_at: str
    rows: list[tuple[object, ...]]


def _read_document(path: str) -> _Document | None:
    """The index's view of a session file, every field checked; None when it is gone."""
    text = read_text(Path(path))
    if text is None:
        return None
    data, records = checked_document(text, Path(path))
    added = [mid for state in data["states"] for mid in state.get("added") or ()]
    return _Document(
        data["id"],
        data.get("cwd") or "",
        data.get("title") or "",
        data.get("updated_at") or data["created_at"],
        request_rows(data["id"], added, records.__getitem__),
    )


@dataclass(frozen=True)
class Refresh:
    """What reconciling the index with the files did."""

    indexed: int
    removed: int
    warnings: list[str]


INDEX_NAME = ".index.sqlite3"


class UsageIndex:
    """The request index of one sessions folder, kept in `<folder>/.index.sqlite3`, or with
    `in_memory` in this process only (when the folder cannot hold it)."""

    def __init__(self, folder: str | os.PathLike[str], *, in_memory: bool = False):
        self.folder = Path(folder)
        self.path = self.folder / INDEX_NAME
        self._memory = sqlite3.connect(":memory:") if in_memory else None

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection with the schema in place; commits on success."""
        db = self._memory if self._memory is not None else self._open()
        try:
            version = None
            with contextlib.suppress(sqlite3.OperationalError):
                version = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if version is None or version[0] != SCHEMA_VERSION:
                db.executescript(
                    "DROP TABLE IF EXISTS requests; DROP TABLE IF EXISTS sessions;" + _SCHEMA
                )
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            with db:
                yield db
        finally:
            if db is not self._memory:
                db.close()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error:
            db.close()
            raise
        return db

    def is_current(self, path: Path, stamp: tuple[int, int]) -> bool:
        """Whether the index holds this file as it is (modification time and size)."""
        if not self.path.exists():
            return False
        with self.connect() as db:
            row = db.execute(
                "SELECT mtime_ns, size FROM sessions WHERE path = ?", (str(path),)
            ).fetchone()
        return row is not None and tuple(row) == stamp

    def record(self, session: Session, path: Path, new_states: list[str] | None = None) -> None:
        """Index a session file just written: only the requests of `new_states` when the
        index already holds the rest, else all of them."""
        info = path.stat()
        document = _Document(
            session.id,
            session.cwd,
            session.title,
            session.updated_at,
            session_rows(session, new_states),
        )
        with self.connect() as db:
            self._store(
                db, document, str(path), info.st_mtime_ns, info.st_size, replace=new_states is None
            )

    def _store(
        self,
        db: sqlite3.Connection,
        document: _Document,
        path: str,
        mtime_ns: int,
        size: int,
        *,
        replace: bool = True,
    ) -> int:
        if replace:
            db.execute("DELETE FROM requests WHERE session_id = ?", (document.id,))
        db.execute("DELETE FROM sessions WHERE path = ? OR id = ?", (path, document.id))
        db.executemany(
            "INSERT OR REPLACE INTO requests VALUES (?,?,?,?,?,?,?,?,?,?)", document.rows
        )
        db.execute(
            "INSERT INTO sessions VALUES (?,?,?,?,?,?,?,NULL)",
            (document.id, path, mtime_ns, size, document.cwd, document.title, document.updated_at),
        )
        return len(document.rows)

    def refresh(self, *, rebuild: bool = False) -> Refresh:
        """Bring the index in line with the session files of its folder."""
        on_disk, _ = scan_folder(self.folder)
        warnings: list[str] = []
        indexed = removed = 0
        with self.connect() as db:
            if rebuild:
                db.execute("DELETE FROM requests")
                db.execute("DELETE FROM sessions")
            known = {
                row[0]: (row[1], row[2], row[3], row[4])
                for row in db.execute("SELECT path, mtime_ns, size, id, error FROM sessions")
            }
            for path, (_mtime, _size, session_id, _error) in known.items():
                if path not in on_disk:
                    db.execute("DELETE FROM requests WHERE session_id = ?", (session_id,))
                    db.execute("DELETE FROM sessions WHERE path = ?", (path,))
                    removed += 1
            for path, (mtime_ns, size) in sorted(on_disk.items()):
                previous = known.get(path)
                if previous and previous[:2] == (mtime_ns, size):
                    if previous[3]:
                        warnings.append(previous[3])
                    continue
                try:
                    document = _read_document(path)
                except SessionError as exc:
                    message = str(exc)
                    warnings.append(message)
                    db.execute("DELETE FROM sessions WHERE path = ?", (path,))
                    db.execute(
                        "INSERT INTO sessions (id, path, mtime_ns, size, error) VALUES (?,?,?,?,?)",
                        (f"damaged:{path}", path, mtime_ns, size, message),
                    )
                    continue
                if document is not None:  # else deleted since the scan: the next refresh drops it
                    indexed += self._store(db, document, path, mtime_ns, size)
        return Refresh(indexed, removed, warnings)
