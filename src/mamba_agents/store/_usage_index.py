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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from mamba_agents.errors import SessionError
from mamba_agents.messages import Usage, content_text
from mamba_agents.store._session import Session, checked_document, read_text, scan_folder

log = logging.getLogger("mamba_agents.store")
SCHEMA_VERSION = "4"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, path TEXT UNIQUE, mtime_ns INTEGER, size INTEGER,
    cwd TEXT, title TEXT, updated_at TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS requests (
    message_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, ts REAL NOT NULL, model TEXT,
    input INTEGER, output INTEGER, cache_read INTEGER, cache_write INTEGER,
    cost REAL, source TEXT, user TEXT);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
CREATE INDEX IF NOT EXISTS requests_session ON requests (session_id);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, message_id TEXT, role TEXT, ts REAL);
CREATE INDEX IF NOT EXISTS messages_session ON messages (session_id);
CREATE VIRTUAL TABLE IF NOT EXISTS texts USING fts5(
    body, tokenize = 'unicode61 remove_diacritics 2');
"""
# `texts` holds each searched message's words under the rowid of its row in `messages`.
_TABLES = ("requests", "sessions", "messages", "texts")
# What a session search finds: the words people typed and the answers they got.
SEARCHED_ROLES = ("user", "assistant")


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _row(
    session_id: str,
    message_id: str,
    created_at: str,
    model: str | None,
    tokens: tuple[int, ...],
    cost: float | None,
    source: str | None,
    user: str | None,
) -> tuple[object, ...]:
    """The index row of one model request; `tokens` are the input, output, cache read and
    cache write counts; `user` made it."""
    return (
        message_id,
        session_id,
        epoch(created_at),
        model or "",
        *tokens,
        cost or 0.0,
        source or "unpriced",
        user or "",
    )


def priced_ids(kind: str | None, added: Iterable[str], receipt: dict[str, Any] | None) -> list[str]:
    """The ids of the messages whose requests a state accounts for: those it added, and
    for a compaction the requests that wrote its summary or scores."""
    ids = list(added)
    if kind == "compaction":
        ids += (receipt or {}).get("request_ids") or []
    return ids


def session_rows(
    session: Session, state_ids: Iterable[str] | None = None
) -> list[tuple[object, ...]]:
    """One row per assistant message with usage that a session's states (or the states
    named) added; messages a fork copied belong to its origin."""
    states = [session.states[s] for s in (session.states if state_ids is None else state_ids)]
    records = {
        message_id: session.messages[message_id].to_record()
        for state in states
        for message_id in priced_ids(state.kind, state.added, state.receipt)
    }
    return _record_rows(session.id, [state.to_record() for state in states], records)


def _text_row(
    session_id: str, message_id: str, role: str, created_at: str, content: object
) -> tuple[object, ...] | None:
    """The search row of one message, or None when it is not searched or has no text."""
    body = searched_text(role, content)
    if body is None:
        return None
    return (session_id, message_id, role, epoch(created_at), body)


def searched_text(role: str, content: object) -> str | None:
    """The words a search finds a message by (None: it is not searched)."""
    body = content_text(content) if role in SEARCHED_ROLES else ""
    return body if body.strip() else None


def session_texts(
    session: Session, state_ids: Iterable[str] | None = None
) -> list[tuple[object, ...]]:
    """The search rows of the messages a session's states (or the states named) added."""
    states = (
        session.states.values() if state_ids is None else (session.states[s] for s in state_ids)
    )
    rows = []
    for state in states:
        for message_id in state.added:
            message = session.messages[message_id]
            row = _text_row(
                session.id, message_id, message.role, message.created_at, message.content
            )
            if row is not None:
                rows.append(row)
    return rows


def _record_texts(
    session_id: str, states: Iterable[dict[str, Any]], records: dict[str, dict[str, Any]]
) -> list[tuple[object, ...]]:
    """`session_texts` from a file's checked records."""
    rows = []
    for state in states:
        for message_id in state.get("added") or ():
            record = records[message_id]
            row = _text_row(
                session_id, message_id, record["role"], record["created_at"], record.get("content")
            )
            if row is not None:
                rows.append(row)
    return rows


def _record_rows(
    session_id: str, states: Iterable[dict[str, Any]], records: dict[str, dict[str, Any]]
) -> list[tuple[object, ...]]:
    """`session_rows` from checked records, without building messages (a report may read
    thousands of files)."""
    rows = []
    for state in states:
        added = priced_ids(state.get("kind"), state.get("added") or (), state.get("receipt"))
        for message_id in added:
            record = records[message_id]
            usage = record.get("usage")
            if record["role"] != "assistant" or not usage:
                continue
            tokens = (
                usage.get("input_tokens") or 0,
                usage.get("output_tokens") or 0,
                usage.get("cache_read_tokens") or 0,
                usage.get("cache_write_tokens") or 0,
            )
            rows.append(
                _row(
                    session_id,
                    message_id,
                    record["created_at"],
                    record.get("model"),
                    tokens,
                    record.get("cost_usd"),
                    record.get("cost_source"),
                    state.get("user"),
                )
            )
    return rows


@dataclass(frozen=True)
class _Document:
    """What the index needs of a session file, read without building messages."""

    id: str
    cwd: str
    title: str
    updated_at: str
    rows: list[tuple[object, ...]]
    texts: list[tuple[object, ...]]


def _read_document(path: str) -> _Document | None:
    """The index's view of a session file, every field checked; None when it is gone."""
    text = read_text(Path(path))
    if text is None:
        return None
    data, records = checked_document(text, Path(path))
    return _Document(
        data["id"],
        data.get("cwd") or "",
        data.get("title") or "",
        data.get("updated_at") or data["created_at"],
        _record_rows(data["id"], data["states"], records),
        _record_texts(data["id"], data["states"], records),
    )


class RequestSum(NamedTuple):
    """Requests summed over one group: `key` is the time bucket (the request's time in
    seconds divided by the bucket size, rounded down), the session id or None; `cost` sums
    the costs recorded with the requests when they were made, by `source`: `reported` (the
    provider's own), `estimated` (priced then) or `unpriced` (no price known then)."""

    key: int | str | None
    model: str
    source: str
    requests: int
    usage: Usage
    cost: float


# Sessions (`s`) started in a folder or below it; its parameters come from `in_folder`.
IN_FOLDER = "(s.cwd = ? OR substr(s.cwd, 1, ?) = ?)"


def in_folder(cwd: str) -> list[object]:
    """The parameters of `IN_FOLDER` for the folder `cwd`."""
    folder = cwd.rstrip("/") or "/"
    inside = folder.rstrip("/") + "/"
    return [folder, len(inside), inside]


def request_sums_query(
    group_by: str,
    *,
    time_bucket: str,
    tables: tuple[str, str],
    start: float | None,
    stop: float | None,
    session_prefix: str | None,
    cwd: str | None,
    bucket_seconds: int,
) -> tuple[str, list[object]]:
    """The SQL (`?` placeholders) and parameters of `request_sums` over the request and
    session tables named; `time_bucket` is the dialect's whole number of buckets (`r.ts / ?`,
    rounded down)."""
    groups = {"time": time_bucket, "session": "r.session_id", "user": 'r."user"', "model": "NULL"}
    if group_by not in groups:
        raise ValueError(f"group_by: expected one of {', '.join(groups)}, got {group_by!r}")
    params: list[object] = [bucket_seconds] if group_by == "time" else []
    where = []
    if start is not None:
        where.append("r.ts >= ?")
        params.append(start)
    if stop is not None:
        where.append("r.ts < ?")
        params.append(stop)
    if session_prefix:
        where.append("substr(r.session_id, 1, ?) = ?")
        params += [len(session_prefix), session_prefix]
    join = ""
    if cwd:
        join = f"JOIN {tables[1]} s ON s.id = r.session_id"
        where.append(IN_FOLDER)
        params += in_folder(cwd)
    sql = (
        f"SELECT {groups[group_by]}, r.model, r.source, COUNT(*), SUM(r.input), "
        "SUM(r.output), SUM(r.cache_read), SUM(r.cache_write), SUM(r.cost) "
        f"FROM {tables[0]} r {join} {'WHERE ' + ' AND '.join(where) if where else ''} "
        "GROUP BY 1, 2, 3"
    )
    return sql, params


def request_sums_of(rows: Iterable[Sequence[Any]]) -> list[RequestSum]:
    """The rows of a `request_sums_query` as sums."""
    return [
        RequestSum(key, model, source, count, Usage(*map(int, tokens)), cost)
        for key, model, source, count, *tokens, cost in rows
    ]


class SearchHit(NamedTuple):
    """A session whose messages match a search: its best-ranked message, a one-line
    snippet of it (the matched words marked `HIT_START` ... `HIT_END`, unless the search
    asks for other marks), and how many of its messages matched."""

    session_id: str
    title: str
    cwd: str
    updated_at: str
    message_id: str
    role: str
    created_at: float
    snippet: str
    hits: int
    score: float


HIT_START, HIT_END = "\ue000", "\ue001"


def search_terms(words: str) -> tuple[list[str], list[str]]:
    """The phrases (in quotes) and the single words of what a person typed."""
    parts = words.split('"')
    phrases = [part.strip() for part in parts[1::2] if part.strip()]
    return phrases, " ".join(parts[::2]).split()


def match_expression(words: str) -> str:
    """A full-text query from what a person typed: every word must occur (in any order);
    quotes keep a phrase together. Nothing typed is read as query syntax."""
    phrases, terms = search_terms(words)
    return " ".join(f'"{term}"' for term in [*phrases, *terms])


@dataclass(frozen=True)
class Refresh:
    """What reconciling the index with the files did."""

    indexed: int
    removed: int
    warnings: list[str]


INDEX_NAME = ".index.sqlite3"


def _forget_texts(db: sqlite3.Connection, session_id: str) -> None:
    """Drop a session's messages from the search index."""
    db.execute(
        "DELETE FROM texts WHERE rowid IN (SELECT id FROM messages WHERE session_id = ?)",
        (session_id,),
    )
    db.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))


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
                    "".join(f"DROP TABLE IF EXISTS {table};" for table in _TABLES) + _SCHEMA
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
            session_texts(session, new_states),
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
            _forget_texts(db, document.id)
        db.execute("DELETE FROM sessions WHERE path = ? OR id = ?", (path, document.id))
        db.executemany(
            "INSERT OR REPLACE INTO requests VALUES (?,?,?,?,?,?,?,?,?,?,?)", document.rows
        )
        if document.texts:
            first = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM messages").fetchone()[0]
            numbered = list(enumerate(document.texts, first))
            db.executemany(
                "INSERT INTO messages VALUES (?,?,?,?,?)", [(n, *row[:4]) for n, row in numbered]
            )
            db.executemany(
                "INSERT INTO texts (rowid, body) VALUES (?,?)", [(n, row[4]) for n, row in numbered]
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
                for table in _TABLES:
                    db.execute(f"DELETE FROM {table}")
            known = {
                row[0]: (row[1], row[2], row[3], row[4])
                for row in db.execute("SELECT path, mtime_ns, size, id, error FROM sessions")
            }
            for path, (_mtime, _size, session_id, _error) in known.items():
                if path not in on_disk:
                    db.execute("DELETE FROM requests WHERE session_id = ?", (session_id,))
                    _forget_texts(db, session_id)
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

    def request_sums(
        self,
        group_by: str,
        *,
        start: float | None = None,
        stop: float | None = None,
        session_prefix: str | None = None,
        cwd: str | None = None,
        bucket_seconds: int = 900,
    ) -> list[RequestSum]:
        """Requests summed by model and cost source within each group: `time` (buckets of
        `bucket_seconds`), `session`, `user` or `model` (one group). Only requests made from
        `start` (epoch seconds) until before `stop`, in sessions whose id starts with
        `session_prefix`, started in folder `cwd` or below it."""
        sql, params = request_sums_query(
            group_by,
            time_bucket="CAST(r.ts / ? AS INTEGER)",
            tables=("requests", "sessions"),
            start=start,
            stop=stop,
            session_prefix=session_prefix,
            cwd=cwd,
            bucket_seconds=bucket_seconds,
        )
        with self.connect() as db:
            return request_sums_of(db.execute(sql, params).fetchall())

    def search(
        self,
        words: str,
        *,
        start: float | None = None,
        cwd: str | None = None,
        model: str | None = None,
        limit: int = 20,
        marks: tuple[str, str] = (HIT_START, HIT_END),
    ) -> list[SearchHit]:
        """The sessions whose user or assistant messages hold every word of `words`, best
        ranked first (BM25): only messages from `start` (epoch seconds) on, sessions started
        in folder `cwd` or below it, sessions with a request to a model matching the glob
        `model`."""
        expression = match_expression(words)
        if not expression:
            return []
        where = []
        params: list[object] = [expression]
        if start is not None:
            where.append("m.ts >= ?")
            params.append(start)
        if cwd:
            where.append(IN_FOLDER)
            params += in_folder(cwd)
        if model:
            where.append(
                "EXISTS (SELECT 1 FROM requests r WHERE r.session_id = m.session_id "
                "AND (r.model GLOB ? OR substr(r.model, instr(r.model, '/') + 1) GLOB ?))"
            )
            params += [model, model]
        # The matches are ranked first (bm25 works only in the full-text query itself); then
        # SQLite gives the bare columns of the row that holds MIN(): each session's best hit.
        best = (
            "WITH h AS MATERIALIZED ("
            "SELECT rowid AS rid, bm25(texts) AS score FROM texts WHERE texts MATCH ?) "
            "SELECT m.session_id, h.rid, m.message_id, m.role, m.ts, MIN(h.score), COUNT(*), "
            "s.title, s.cwd, s.updated_at FROM h JOIN messages m ON m.id = h.rid "
            "JOIN sessions s ON s.id = m.session_id "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} "
            "GROUP BY m.session_id ORDER BY 6 LIMIT ?"
        )
        snippet = (
            "SELECT snippet(texts, 0, ?, ?, '…', 24) FROM texts WHERE texts MATCH ? AND rowid = ?"
        )
        with self.connect() as db:
            rows = db.execute(best, [*params, limit]).fetchall()
            return [
                SearchHit(
                    session_id=row[0],
                    title=row[7] or "",
                    cwd=row[8] or "",
                    updated_at=row[9] or "",
                    message_id=row[2],
                    role=row[3],
                    created_at=row[4],
                    snippet=" ".join(
                        db.execute(snippet, (*marks, expression, row[1])).fetchone()[0].split()
                    ),
                    hits=row[6],
                    score=row[5],
                )
                for row in rows
            ]

    def session_labels(self) -> dict[str, tuple[str, str, str]]:
        """The title, folder and last activity (`updated_at`) of each indexed session."""
        with self.connect() as db:
            return {
                r[0]: r[1:]
                for r in db.execute(
                    "SELECT id, title, cwd, updated_at FROM sessions WHERE error IS NULL"
                )
            }
