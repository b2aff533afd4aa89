"""Usage reports and search on the PostgreSQL store, in SQL: no session is loaded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mamba_agents.store._index_queries import (
    HIT_END,
    HIT_START,
    IN_FOLDER,
    RequestSum,
    SearchHit,
    in_folder,
    request_sums_of,
    request_sums_query,
    search_terms,
)


def glob_like(pattern: str) -> str:
    """A LIKE pattern matching what the glob `pattern` does (`*`, `?`)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


class PostgresIndex:
    """The report queries of `ReportIndex` over a PostgreSQL store's tables."""

    def __init__(self, query: Callable[[str, Any], list[tuple[Any, ...]]]):
        self._query = query  # the store's: one statement, errors as SessionError

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
        """As `UsageIndex.request_sums`."""
        sql, params = request_sums_query(
            group_by,
            time_bucket="floor(r.ts / ?)::bigint",
            tables=("mamba_requests", "mamba_sessions"),
            start=start,
            stop=stop,
            session_prefix=session_prefix,
            cwd=cwd,
            bucket_seconds=bucket_seconds,
        )
        return request_sums_of(self._query(sql.replace("?", "%s"), params))

    def session_labels(self) -> dict[str, tuple[str, str, str]]:
        """The title, folder and last activity of each session."""
        rows = self._query("SELECT id, title, cwd, updated_at FROM mamba_sessions", [])
        return {row[0]: tuple(row[1:]) for row in rows}  # type: ignore[misc]

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
        """As `UsageIndex.search`, with PostgreSQL's full-text search: a message's words are
        found under the session that first stored it."""
        phrases, terms = search_terms(words)
        if not phrases and not terms:
            return []
        parts = ["phraseto_tsquery('simple', %s)"] * len(phrases)
        parts += ["plainto_tsquery('simple', %s)"] * len(terms)
        params: list[object] = [*phrases, *terms]
        where = ["m.words @@ q.query"]
        if start is not None:
            where.append("m.ts >= %s")
            params.append(start)
        if cwd:
            where.append(IN_FOLDER.replace("?", "%s"))
            params += in_folder(cwd)
        if model:
            where.append(
                "EXISTS (SELECT 1 FROM mamba_requests r WHERE r.session_id = m.session_id "
                "AND (r.model LIKE %s OR split_part(r.model, '/', 2) LIKE %s))"
            )
            params += [glob_like(model)] * 2
        # A short message is shown whole; a long one as the stretch around its matches.
        whole = f'StartSel="{marks[0]}", StopSel="{marks[1]}", MaxWords=24, MinWords=12'
        part = f'{whole}, MaxFragments=1, FragmentDelimiter=" … "'
        sql = (
            f"WITH q AS (SELECT {' && '.join(parts)} AS query), "
            "hits AS (SELECT m.session_id, m.id, m.record->>'role' AS role, m.ts, m.body, "
            "ts_rank(m.words, q.query) AS score, "
            "count(*) OVER (PARTITION BY m.session_id) AS hits, "
            "row_number() OVER (PARTITION BY m.session_id ORDER BY ts_rank(m.words, q.query) "
            "DESC, m.ts DESC) AS place "
            "FROM mamba_messages m CROSS JOIN q JOIN mamba_sessions s ON s.id = m.session_id "
            f"WHERE {' AND '.join(where)}) "
            "SELECT h.session_id, s.title, s.cwd, s.updated_at, h.id, h.role, h.ts, "
            "ts_headline('simple', h.body, q.query, CASE WHEN "
            "array_length(regexp_split_to_array(btrim(h.body), '\\s+'), 1) <= 24 "
            "THEN %s ELSE %s END), h.hits, h.score "
            "FROM hits h CROSS JOIN q JOIN mamba_sessions s ON s.id = h.session_id "
            "WHERE h.place = 1 ORDER BY h.score DESC, s.updated DESC LIMIT %s"
        )
        rows = self._query(sql, [*params, whole, part, limit])
        return [
            SearchHit(
                session_id=row[0],
                title=row[1] or "",
                cwd=row[2] or "",
                updated_at=row[3] or "",
                message_id=row[4],
                role=row[5],
                created_at=row[6],
                snippet=" ".join(row[7].split()),
                hits=row[8],
                score=-row[9],  # lower is better, as with SQLite's bm25
            )
            for row in rows
        ]
