"""Finding past sessions by what was said in them.

The words of every user and assistant message are kept in a full-text index (SQLite FTS5)
beside the usage index in the sessions folder, brought in line with the session files before
each search as the usage report does, and rebuilt by itself when it is missing. Results are
ranked by BM25, one per session, with a snippet around the best match.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mamba_agents.store import SearchHit, Store
from mamba_agents.usage import Clock, parse_when

__all__ = ["SearchHit", "SearchResult", "search_sessions"]


@dataclass
class SearchResult:
    """The hits, best first; `warnings` name damaged session files that were skipped;
    `index_error` says why the index on disk could not be used (the search then ran on a
    fresh index in memory)."""

    hits: list[SearchHit]
    warnings: list[str] = field(default_factory=list)
    index_error: str | None = None


def search_sessions(
    store: Store,
    words: str,
    *,
    since: str | None = None,
    model: str | None = None,
    cwd: str | None = None,
    limit: int = 20,
    marks: tuple[str, str] | None = None,
    now: float | None = None,
) -> SearchResult:
    """The sessions of `store` whose messages hold every word of `words` (a quoted part is
    a phrase). `since` takes a date or a span (`7d`); `model` a glob (`gpt-4o*`); `cwd` keeps
    sessions started in that folder or below it. `marks` go around the matched words in the
    snippets (default `HIT_START`, `HIT_END`; `("", "")` for none)."""
    clock = Clock()
    start = None
    if since:
        moment = time.time() if now is None else now
        start = parse_when(since, clock, moment, end=False, option="--since")
    query: dict[str, Any] = {"start": start, "cwd": cwd, "model": model, "limit": limit}
    if marks is not None:
        query["marks"] = marks
    reports = store.reports()
    return SearchResult(reports.index.search(words, **query), reports.warnings, reports.index_error)
