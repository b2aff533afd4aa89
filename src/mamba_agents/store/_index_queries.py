"""The queries both report indexes answer (SQLite beside the files, PostgreSQL): request
sums by group, and the words of a search."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from mamba_agents.messages import Usage


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


def match_parts(words: str) -> list[str]:
    """A full-text query for each phrase and word a person typed; joined by spaces, every
    one must occur (in any order), and a quoted phrase keeps its words together. Nothing
    typed is read as query syntax."""
    phrases, terms = search_terms(words)
    return [f'"{term}"' for term in [*phrases, *terms]]
