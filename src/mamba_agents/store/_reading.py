"""Reading many session files for the usage index: on every core when there are many.

Worker processes hand their rows over packed in a small SQLite database, which the index
copies with one INSERT ... SELECT: no Python call per row in the process that writes.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from mamba_agents.errors import SessionError
from mamba_agents.store._index_rows import IndexedFile, read_indexed

File = tuple[str, int, int]  # path, modification time (ns), size
# From this many files, they are read by worker processes, one per core.
PARALLEL_FILES = 400
_CHUNK = 100  # files a worker reads at a time
PACKED = "chunk"  # the schema a packed chunk is read from (`attach_packed`)
# Every packed chunk has the same tables: request rows (`r`) and search rows (`t`).
_PACKED_TABLES = (
    "CREATE TABLE r (c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10);"
    "CREATE TABLE t (c0, c1, c2, c3, c4);"
)


@dataclass
class Chunk:
    """Files read in order: each one's rows, damage, or None when it is gone (deleted
    since it was listed); and all their rows, as a list or `packed`."""

    files: list[tuple[str, int, int, IndexedFile | SessionError | None]]
    rows: list[tuple[object, ...]] = field(default_factory=list)
    packed: bytes | None = None


def attach_packed(db: sqlite3.Connection) -> None:
    """Make `db` ready to read packed chunks (outside a transaction)."""
    if PACKED not in {row[1] for row in db.execute("PRAGMA database_list")}:
        db.execute(f"ATTACH ':memory:' AS {PACKED}")


def read_chunks(files: Sequence[File], *, words: bool) -> Iterator[Chunk]:
    """The files read, in order, in chunks: their request rows, or their search rows with
    `words`. Many files are read by forked worker processes (they start at once with what
    this one has loaded) while the chunks read before are written."""
    workers = _workers(len(files))
    if workers < 2:
        yield _read(files, words)
        return
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    chunks = [files[start : start + _CHUNK] for start in range(0, len(files), _CHUNK)]
    try:
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
            yield from pool.map(_read_packed, chunks, [words] * len(chunks))
    except BrokenProcessPool:  # a worker killed (out of memory, a signal)
        raise SessionError("a process reading the session files was stopped") from None


def _read(files: Sequence[File], words: bool) -> Chunk:
    chunk = Chunk([])
    for path, mtime_ns, size in files:
        try:
            read = read_indexed(path, words=words)
        except SessionError as exc:
            chunk.files.append((path, mtime_ns, size, exc))
            continue
        if read is not None:
            chunk.rows += read.texts if words else read.rows
        chunk.files.append((path, mtime_ns, size, read))
    return chunk


def _read_packed(files: Sequence[File], words: bool) -> Chunk:
    """`_read` in a worker: the rows packed, and left out of each file's `IndexedFile`."""
    chunk = _read(files, words)
    db = sqlite3.connect(":memory:")
    db.executescript(_PACKED_TABLES)
    table = "t" if words else "r"
    marks = ",".join("?" * (5 if words else 11))
    db.executemany(f"INSERT INTO {table} VALUES ({marks})", chunk.rows)
    db.commit()
    files = [
        (path, mtime_ns, size, replace(read, rows=[], texts=[]))
        if isinstance(read, IndexedFile)
        else (path, mtime_ns, size, read)
        for path, mtime_ns, size, read in chunk.files
    ]
    packed = db.serialize()
    db.close()
    return Chunk(files, packed=packed)


def _workers(files: int) -> int:
    """How many processes should read `files` files: one unless there are many, several
    cores, and no other thread in this process (a forked child gets only the thread that
    forked it: a lock another thread held would never be released there)."""
    if files < PARALLEL_FILES or sys.platform != "linux" or threading.active_count() > 1:
        return 1
    return min(len(os.sched_getaffinity(0)), 8)
