"""The usage index: one row per model request, kept in SQLite beside the session files.

Session files stay the source of truth. Saving a session updates its rows; before a report the
index is reconciled with the files on disk (new, changed or deleted files by modification
time and size), so a missing or stale index rebuilds itself and deleting it loses nothing.
SQLite's locking makes concurrent writers safe.

A report reads only the requests of the files that changed. Their words (for `mamba sessions
search`) are read by the first search after it (`index_words`), so a report never pays for
them. Reports by time read `buckets`: the requests summed per quarter hour, model and cost
source. A save moves those sums by the requests it replaces and writes; after files changed
behind mamba's back, the first report makes them again from `requests`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mamba_agents.errors import SessionError
from mamba_agents.store._index_queries import (
    HIT_END,
    HIT_START,
    IN_FOLDER,
    RequestSum,
    SearchHit,
    in_folder,
    match_parts,
    request_sums_of,
    request_sums_query,
)
from mamba_agents.store._index_rows import IndexedFile, session_rows, session_texts
from mamba_agents.store._reading import PACKED, Chunk, attach_packed, read_chunks
from mamba_agents.store._session import Session, scan_folder

log = logging.getLogger("mamba_agents.store")
SCHEMA_VERSION = "6"
BUCKET = 900  # seconds: every real UTC offset is a whole number of quarter hours
_MESSAGE_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS requests_message ON requests (message_id)"
# `words`: 1 when `messages` and `texts` hold the words of the file as `mtime_ns` and `size`
# say it is; 0 when a search must read the file for them first.
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, path TEXT UNIQUE, mtime_ns INTEGER, size INTEGER,
    cwd TEXT, title TEXT, updated_at TEXT, error TEXT, words INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS requests (
    message_id TEXT NOT NULL, session_id TEXT NOT NULL, ts REAL NOT NULL, model TEXT,
    input INTEGER, output INTEGER, cache_read INTEGER, cache_write INTEGER,
    cost REAL, source TEXT, user TEXT);
{_MESSAGE_INDEX};
CREATE INDEX IF NOT EXISTS requests_session ON requests (session_id);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, message_id TEXT, role TEXT, ts REAL);
CREATE INDEX IF NOT EXISTS messages_session ON messages (session_id);
CREATE VIRTUAL TABLE IF NOT EXISTS texts USING fts5(
    body, tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS buckets (
    bucket INTEGER, model TEXT, source TEXT, requests INTEGER, input INTEGER, output INTEGER,
    cache_read INTEGER, cache_write INTEGER, cost REAL);
CREATE UNIQUE INDEX IF NOT EXISTS buckets_key ON buckets (bucket, model, source);
"""
_BUCKET_NAMES = ("requests", "input", "output", "cache_read", "cache_write", "cost")
_BUCKET_VALUES = ("COUNT(*)", *(f"SUM({name})" for name in _BUCKET_NAMES[1:]))
# `texts` holds each searched message's words under the rowid of its row in `messages`.
_TABLES = ("requests", "sessions", "messages", "texts", "buckets")
_TIME_BUCKET = "CAST(r.ts / ? AS INTEGER)"
# From this many files to read into an empty index, its index of message ids is made after
# the rows are in (faster than keeping it up to date row by row).
BULK_FILES = 200
_REQUEST = "INSERT OR REPLACE INTO requests VALUES (?,?,?,?,?,?,?,?,?,?,?)"
_SESSION = "INSERT OR REPLACE INTO sessions VALUES (?,?,?,?,?,?,?,?,?)"


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
                _create(db)
            with db:
                yield db
        finally:
            if db is not self._memory:
                db.close()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        try:
            # A new file's pages: fewer, larger ones are faster to write when it is built
            # from thousands of files (a file made before keeps its own).
            db.execute("PRAGMA page_size=16384")
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
        index already holds the rest, else all of them. Their words are indexed with them,
        unless the index lacks the words of the session's earlier states (then the next
        search reads the file for all of them)."""
        info = path.stat()
        rows = session_rows(session, new_states)
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            # The sums lose the requests this save replaces or drops and gain those it writes.
            summed = _summed(db)
            ids = json.dumps([row[0] for row in rows])
            written = "message_id IN (SELECT value FROM json_each(?))"
            if summed:  # a whole session replaces all its rows
                whole = (f"session_id = ? OR {written}", session.id, ids)
                _move_buckets(db, -1, *(whole if new_states is None else (written, ids)))
            if new_states is None:
                _forget(db, session.id, str(path))
                words = True
            else:
                found = db.execute("SELECT words FROM sessions WHERE id = ?", (session.id,))
                words = bool((found.fetchone() or (0,))[0])
                db.execute("DELETE FROM sessions WHERE path = ? OR id = ?", (str(path), session.id))
            db.executemany(_REQUEST, rows)
            if summed:
                _move_buckets(db, 1, written, ids)
                db.execute("DELETE FROM buckets WHERE requests = 0")
            if words:
                _add_texts(db, Chunk([], session_texts(session, new_states)))
            db.execute(
                _SESSION,
                (session.id, str(path), info.st_mtime_ns, info.st_size, session.cwd,
                 session.title, session.updated_at, None, int(words)),
            )  # fmt: skip

    def refresh(self, *, rebuild: bool = False) -> Refresh:
        """Bring the index's requests in line with the session files of its folder (the
        words of the files read are left to the next search: `index_words`)."""
        on_disk, _ = scan_folder(self.folder)
        with self.connect() as db:
            if rebuild:
                _create(db)
            known = _known(db)
            if {path: stamp[:2] for path, stamp in known.items()} != on_disk:
                attach_packed(db)
                db.execute("BEGIN IMMEDIATE")  # the write lock: the index as it is now
                return self._reconcile(db, _known(db), on_disk)
        return Refresh(0, 0, [known[path][3] or "" for path in sorted(known) if known[path][3]])

    @staticmethod
    def _reconcile(
        db: sqlite3.Connection,
        known: dict[str, tuple[int, int, str, str | None]],
        on_disk: dict[str, tuple[int, int]],
    ) -> Refresh:
        """Drop the files gone, read those new or changed (in a write transaction)."""
        warnings: list[str] = []
        gone = [path for path in known if path not in on_disk]
        changed = []
        for path, stamp in sorted(on_disk.items()):
            previous = known.get(path)
            if previous is None or previous[:2] != stamp:
                changed.append((path, *stamp))
            elif previous[3]:
                warnings.append(previous[3])
        for path in gone + [path for path, *_ in changed if path in known]:
            _forget(db, known[path][2], path)
        _requests_changed(db)
        # Into an empty index, many files: their rows are indexed at the end.
        bulk = not known and len(changed) >= BULK_FILES
        if bulk:
            db.execute("DROP INDEX requests_message")
            db.execute("DROP INDEX requests_session")
        indexed = 0
        sessions: list[tuple[object, ...]] = []
        for chunk in read_chunks(changed, words=False):
            for path, mtime_ns, size, read in chunk.files:
                if isinstance(read, SessionError):
                    warnings.append(str(read))
                    sessions.append(_damage_row(path, mtime_ns, size, read))
                elif read is not None:  # else deleted since the scan: the next refresh drops it
                    sessions.append(_session_row(read, path, mtime_ns, size, words=False))
            if chunk.packed is None:
                indexed += len(chunk.rows)
                db.executemany(_REQUEST, chunk.rows)
            else:
                db.deserialize(chunk.packed, name=PACKED)
                copy = f"INSERT OR REPLACE INTO requests SELECT * FROM {PACKED}.r ORDER BY rowid"
                indexed += db.execute(copy).rowcount
        db.executemany(_SESSION, sessions)
        if bulk:
            _index_message_ids(db)
            db.execute("CREATE INDEX requests_session ON requests (session_id)")
            _sum_buckets(db)  # now, while the requests are in memory
        warnings.sort()
        return Refresh(indexed, len(gone), warnings)

    def index_words(self) -> None:
        """Index the words of the files whose words the index lacks (read by a report)."""
        pending = "SELECT path, mtime_ns, size FROM sessions WHERE words = 0 AND error IS NULL"
        with self.connect() as db:
            if db.execute(pending + " LIMIT 1").fetchone() is None:
                return
            attach_packed(db)
            db.execute("BEGIN IMMEDIATE")  # the write lock: the list as it is now
            for chunk in read_chunks(db.execute(pending).fetchall(), words=True):
                _add_texts(db, chunk)
                # A file damaged, gone or changed since the report: the next refresh reads it
                # again (and drops these words).
                db.executemany(
                    "UPDATE sessions SET words = 1 WHERE path = ?",
                    [(path,) for path, *_, read in chunk.files if isinstance(read, IndexedFile)],
                )

    def request_sums(
        self,
        group_by: str,
        *,
        start: float | None = None,
        stop: float | None = None,
        session_prefix: str | None = None,
        cwd: str | None = None,
        bucket_seconds: int = BUCKET,
    ) -> list[RequestSum]:
        """Requests summed by model and cost source within each group: `time` (buckets of
        `bucket_seconds`), `session`, `user` or `model` (one group). Only requests made from
        `start` (epoch seconds) until before `stop`, in sessions whose id starts with
        `session_prefix`, started in folder `cwd` or below it."""
        with self.connect() as db:
            if (
                group_by == "time"
                and bucket_seconds == BUCKET
                and not session_prefix
                and not cwd
                and all(t is None or t > 0 for t in (start, stop))  # CAST rounds to zero
                and _buckets_ready(db)
            ):
                return request_sums_of(_bucket_sums(db, start, stop))
            return request_sums_of(
                _requests_sums(db, group_by, start, stop, session_prefix, cwd, bucket_seconds)
            )

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
        `model`. When no part of `words` carries weight in BM25 (each is found in half the
        messages or more), the sessions whose latest hit is latest come first."""
        parts = match_parts(words)
        if not parts:
            return []
        expression = " ".join(parts)
        try:
            self.index_words()
        except (sqlite3.Error, OSError) as exc:
            if self._memory is not None:
                raise
            log.warning("%s: cannot index the words (%s): searching the files", self.path, exc)
            memory = UsageIndex(self.folder, in_memory=True)
            memory.refresh()
            return memory.search(words, start=start, cwd=cwd, model=model, limit=limit, marks=marks)
        where: list[str] = []
        params: list[object] = [expression]
        if start is not None:
            where.append("m.ts >= ?")
            params.append(start)
        if cwd:
            where.append(f"m.session_id IN (SELECT s.id FROM sessions s WHERE {IN_FOLDER})")
            params += in_folder(cwd)
        if model:
            where.append(
                "EXISTS (SELECT 1 FROM requests r WHERE r.session_id = m.session_id "
                "AND (r.model GLOB ? OR substr(r.model, instr(r.model, '/') + 1) GLOB ?))"
            )
            params += [model, model]
        with self.connect() as db:
            query = _best_hits if _carries_weight(db, parts) else _latest_hits
            rows = db.execute(query(where), [*params, limit]).fetchall()
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
                        db.execute(_SNIPPET, (*marks, expression, row[1])).fetchone()[0].split()
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


# A search's hits (the rows of `hits` whose rowid is a row of `messages`), one per session:
# the session, the hit's row in `messages`, message id, role and time, its score, the
# number of hits, and the session's title, folder and last activity (joined last, for the
# sessions listed only).
_HITS = (
    "SELECT h.*, s.title, s.cwd, s.updated_at FROM ("
    "SELECT m.session_id, m.id, m.message_id, m.role, {time}, {score}, COUNT(*) "
    "FROM {hits} JOIN messages m ON m.id = {hits}.rowid {where} GROUP BY m.session_id "
    "ORDER BY {order} LIMIT ?) h JOIN sessions s ON s.id = h.session_id ORDER BY {order}"
)


_SNIPPET = "SELECT snippet(texts, 0, ?, ?, '…', 24) FROM texts WHERE texts MATCH ? AND rowid = ?"


def _best_hits(filters: list[str]) -> str:
    """Each session's best-ranked hit (SQLite gives the bare columns of the row that holds
    MIN()), best sessions first. bm25 is computed once per hit, before the join: it works only
    in the full-text query itself."""
    where = f"WHERE {' AND '.join(filters)}" if filters else ""
    scored = "SELECT rowid, bm25(texts) AS score FROM texts WHERE texts MATCH ?"
    hits = _HITS.format(
        hits="scored", time="m.ts", score="MIN(score)", where=where, order="6, 5 DESC"
    )
    return f"WITH scored AS MATERIALIZED ({scored}) {hits}"


def _latest_hits(filters: list[str]) -> str:
    """Each session's latest hit (the row that holds MAX()), the latest first, unscored."""
    where = f"WHERE {' AND '.join(['texts MATCH ?', *filters])}"
    return _HITS.format(hits="texts", time="MAX(m.ts)", score="0.0", where=where, order="5 DESC")


def _carries_weight(db: sqlite3.Connection, parts: list[str]) -> bool:
    """Whether BM25 gives weight to any part of a search: a part found in half the messages
    or more gets none (its inverse document frequency is not above zero)."""
    total = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    found = "SELECT COUNT(*) FROM (SELECT 1 FROM texts WHERE texts MATCH ? LIMIT ?)"
    return any(
        2 * db.execute(found, (part, (total + 1) // 2)).fetchone()[0] < total for part in parts
    )


def _create(db: sqlite3.Connection) -> None:
    """An empty index of the current schema, whatever was there before."""
    db.executescript("".join(f"DROP TABLE IF EXISTS {table};" for table in _TABLES) + _SCHEMA)
    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
    db.commit()


def _known(db: sqlite3.Connection) -> dict[str, tuple[int, int, str, str | None]]:
    """The files the index holds: path: modification time, size, session id, damage."""
    rows = db.execute("SELECT path, mtime_ns, size, id, error FROM sessions")
    return {path: (mtime_ns, size, id_, error) for path, mtime_ns, size, id_, error in rows}


def _damage_row(path: str, mtime_ns: int, size: int, damage: SessionError) -> tuple[object, ...]:
    return (f"damaged:{path}", path, mtime_ns, size, None, None, None, str(damage), 0)


def _session_row(
    read: IndexedFile, path: str, mtime_ns: int, size: int, *, words: bool
) -> tuple[object, ...]:
    return (read.id, path, mtime_ns, size, read.cwd, read.title, read.updated_at, None, int(words))


def _forget(db: sqlite3.Connection, session_id: str, path: str) -> None:
    """Drop a session's requests, words and file from the index."""
    db.execute("DELETE FROM requests WHERE session_id = ?", (session_id,))
    db.execute(
        "DELETE FROM texts WHERE rowid IN (SELECT id FROM messages WHERE session_id = ?)",
        (session_id,),
    )
    db.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
    db.execute("DELETE FROM sessions WHERE path = ? OR id = ?", (path, session_id))


def _add_texts(db: sqlite3.Connection, chunk: Chunk) -> None:
    """Add the search rows (`session_texts`) of a chunk to `messages` and `texts`."""
    first = db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0]
    if chunk.packed is not None:
        db.deserialize(chunk.packed, name=PACKED)
        rows = f"FROM {PACKED}.t ORDER BY rowid"
        db.execute(f"INSERT INTO messages SELECT ? + rowid, c0, c1, c2, c3 {rows}", (first,))
        db.execute(f"INSERT INTO texts (rowid, body) SELECT ? + rowid, c4 {rows}", (first,))
        return
    numbered = list(enumerate(chunk.rows, first + 1))
    db.executemany(
        "INSERT INTO messages VALUES (?,?,?,?,?)", [(n, *row[:4]) for n, row in numbered]
    )
    db.executemany(
        "INSERT INTO texts (rowid, body) VALUES (?,?)", [(n, row[4]) for n, row in numbered]
    )


def _index_message_ids(db: sqlite3.Connection) -> None:
    """Index the message ids of rows added without that index; a message id found twice
    keeps its last row, as INSERT OR REPLACE would have."""
    try:
        db.execute(_MESSAGE_INDEX)
    except sqlite3.IntegrityError:
        db.execute(
            "DELETE FROM requests WHERE rowid NOT IN "
            "(SELECT MAX(rowid) FROM requests GROUP BY message_id)"
        )
        db.execute(_MESSAGE_INDEX)


def _requests_changed(db: sqlite3.Connection) -> None:
    """The sums in `buckets` are out of date (`requests` changes in this transaction)."""
    db.execute("DELETE FROM meta WHERE key = 'buckets'")


def _summed(db: sqlite3.Connection) -> bool:
    """Whether `buckets` holds the sums of the requests as they are."""
    return db.execute("SELECT 1 FROM meta WHERE key = 'buckets'").fetchone() is not None


def _buckets_ready(db: sqlite3.Connection) -> bool:
    """Whether `buckets` holds the sums of the requests; made now when out of date (False
    when they cannot be: an index that cannot be written)."""
    if _summed(db):
        return True
    try:
        db.execute("BEGIN IMMEDIATE")
        if not _summed(db):  # else made meanwhile by another process
            _sum_buckets(db)
        db.commit()
    except sqlite3.OperationalError:
        db.rollback()
        return False
    return True


def _move_buckets(db: sqlite3.Connection, sign: int, where: str, *params: object) -> None:
    """Add (`sign` 1) or take away (-1) the sums of the requests `where` selects to or from
    `buckets`."""
    sums = ", ".join(f"? * {value}" for value in _BUCKET_VALUES)
    added = ", ".join(f"{name} = {name} + excluded.{name}" for name in _BUCKET_NAMES)
    db.execute(
        f"INSERT INTO buckets SELECT CAST(ts / {BUCKET} AS INTEGER), model, source, {sums} "
        f"FROM requests WHERE {where} GROUP BY 1, 2, 3 "
        f"ON CONFLICT (bucket, model, source) DO UPDATE SET {added}",
        [sign] * len(_BUCKET_VALUES) + list(params),
    )


def _sum_buckets(db: sqlite3.Connection) -> None:
    """Sum the requests into `buckets` (in a write transaction)."""
    sums, params = request_sums_query(
        "time", time_bucket=_TIME_BUCKET, tables=("requests", "sessions"), start=None,
        stop=None, session_prefix=None, cwd=None, bucket_seconds=BUCKET,
    )  # fmt: skip
    db.execute("DELETE FROM buckets")
    db.execute(f"INSERT INTO buckets {sums}", params)
    db.execute("INSERT OR REPLACE INTO meta VALUES ('buckets', '1')")


def _bucket_sums(
    db: sqlite3.Connection, start: float | None, stop: float | None
) -> list[tuple[object, ...]]:
    """The sums by quarter hour of the requests from `start` until before `stop`: those of
    whole quarter hours from `buckets`, those of a quarter hour `start` or `stop` cuts from
    the requests themselves."""
    first, last = -(2**63), 2**63 - 1  # the whole buckets: from first until before last
    rows: list[tuple[object, ...]] = []
    if start is not None:
        first = -int(-start // BUCKET)
        if first * BUCKET != start:
            edge = first * BUCKET if stop is None else min(first * BUCKET, stop)
            rows += _requests_sums(db, "time", start, edge, None, None, BUCKET)
    if stop is not None:
        last = int(stop // BUCKET)
        if last * BUCKET != stop and last >= first:
            rows += _requests_sums(db, "time", last * BUCKET, stop, None, None, BUCKET)
    rows += db.execute(
        "SELECT * FROM buckets WHERE bucket >= ? AND bucket < ?", (first, last)
    ).fetchall()
    return rows


def _requests_sums(
    db: sqlite3.Connection,
    group_by: str,
    start: float | None,
    stop: float | None,
    session_prefix: str | None,
    cwd: str | None,
    bucket_seconds: int,
) -> list[tuple[object, ...]]:
    """`request_sums` from the requests themselves."""
    sql, params = request_sums_query(
        group_by,
        time_bucket=_TIME_BUCKET,
        tables=("requests", "sessions"),
        start=start,
        stop=stop,
        session_prefix=session_prefix,
        cwd=cwd,
        bucket_seconds=bucket_seconds,
    )
    return db.execute(sql, params).fetchall()
