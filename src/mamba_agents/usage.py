"""Usage reports: requests, tokens and cost grouped by day, week, month, session, model or
user.

Each request keeps the cost it was given when it was made: the provider's figure, or an
estimate from the prices in force then (the bundled price table and `[models."name"]` in the
config of that run). So a report says the same wherever it is run from. `reprice` prices every
request the provider did not price with today's settings instead, on purpose. Tokens of a
model with no known price are counted and shown as unpriced, never guessed.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, cast

from mamba_agents.errors import ConfigError
from mamba_agents.messages import Usage
from mamba_agents.store import ReportIndex, RequestSum, Store

if TYPE_CHECKING:
    from mamba_agents.config import AgentSettings
    from mamba_agents.tokens import CostEstimator

__all__ = ["GROUPINGS", "Clock", "UsageReport", "UsageRow", "UsageTotals", "build_report"]

GROUPINGS = ("day", "week", "month", "session", "model", "user")
REPORT_NAMES = {
    "day": "daily",
    "week": "weekly",
    "month": "monthly",
    "session": "session",
    "model": "model",
    "user": "user",
}
UNKNOWN_USER = "(unknown)"  # requests saved before each turn recorded its user
BUCKET_SECONDS = 900  # every real UTC offset is a whole number of quarter hours
DEFAULT_DAYS = 30
_SPAN = re.compile(r"^(\d+)\s*([hdw])$")


@dataclass
class UsageTotals:
    """Sums over some requests. Costs in USD; `unpriced_tokens` had no known price."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_reported_usd: float = 0.0
    cost_estimated_usd: float = 0.0
    unpriced_tokens: int = 0
    models: set[str] = field(default_factory=set)

    @property
    def usage(self) -> Usage:
        """The four token counts as one `Usage`."""
        return Usage(
            self.input_tokens, self.output_tokens, self.cache_read_tokens, self.cache_write_tokens
        )

    @property
    def total_tokens(self) -> int:
        return self.usage.total_tokens

    @property
    def cost_usd(self) -> float:
        return self.cost_reported_usd + self.cost_estimated_usd

    def add(self, other: UsageTotals) -> None:
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cost_reported_usd += other.cost_reported_usd
        self.cost_estimated_usd += other.cost_estimated_usd
        self.unpriced_tokens += other.unpriced_tokens
        self.models |= other.models

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": sorted(self.models),
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": round(self.cost_usd, 8),
            "cost_reported_usd": round(self.cost_reported_usd, 8),
            "cost_estimated_usd": round(self.cost_estimated_usd, 8),
            "unpriced_tokens": self.unpriced_tokens,
        }


@dataclass
class UsageRow:
    """One group: its key (a date, week start, month, session id or model) and sums."""

    key: str
    totals: UsageTotals = field(default_factory=UsageTotals)
    breakdown: dict[str, UsageTotals] = field(default_factory=dict)
    title: str | None = None
    cwd: str | None = None
    last_activity: str | None = None

    def to_dict(self, *, breakdown: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key}
        if self.title is not None:
            data.update(title=self.title, cwd=self.cwd, last_activity=self.last_activity)
        data.update(self.totals.to_dict())
        if breakdown:
            data["breakdown"] = [
                {"model": m, **t.to_dict()}
                for m, t in sorted(self.breakdown.items(), key=lambda i: -i[1].cost_usd)
            ]
        return data


@dataclass
class UsageReport:
    """A report: rows in order, their totals, and the files that could not be read."""

    by: str
    timezone: str
    since: float | None
    until: float | None
    rows: list[UsageRow]
    totals: UsageTotals
    warnings: list[str]
    index_error: str | None = None
    """Why the usage index could not be updated (the report then read the files)."""

    @property
    def name(self) -> str:
        return REPORT_NAMES[self.by]


class Clock:
    """Turns instants into calendar dates in a time zone (default: the system's, DST-aware)."""

    def __init__(self, zone: str | None = None):
        self.zone: tzinfo | None = None
        self.name = "local"
        if zone:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                self.zone = ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(f"--timezone: unknown time zone {zone!r}") from None
            self.name = zone
        self._dates: dict[int, date] = {}

    def date_of(self, epoch: float) -> date:
        return (
            datetime.fromtimestamp(epoch, self.zone).date()
            if self.zone
            else datetime.fromtimestamp(epoch).date()
        )

    def bucket_date(self, bucket: int) -> date:
        if bucket not in self._dates:
            self._dates[bucket] = self.date_of(bucket * BUCKET_SECONDS)
        return self._dates[bucket]

    def start_of(self, day: date) -> float:
        """The instant the day begins."""
        if self.zone:
            return datetime(day.year, day.month, day.day, tzinfo=self.zone).timestamp()
        return time.mktime(day.timetuple())


def parse_when(text: str, clock: Clock, now: float, *, end: bool, option: str) -> float:
    """`2026-11-01` (the start of that day, or with `end` the end of it), a span back from
    now (`12h`, `7d`, `4w`), or an ISO date-time."""
    text = text.strip()
    span = _SPAN.match(text)
    if span:
        amount, unit = int(span.group(1)), span.group(2)
        return now - amount * {"h": 3600, "d": 86400, "w": 7 * 86400}[unit]
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError(
                f"{option}: expected a date (2026-11-01), a span (7d, 4w, 12h) "
                f"or a date-time, got {text!r}"
            ) from None
        if moment.tzinfo is None and clock.zone is not None:
            moment = moment.replace(tzinfo=clock.zone)
        return moment.timestamp()
    return clock.start_of(day + timedelta(days=1) if end else day)


def _period(day: date, by: str, week_start: int) -> str:
    if by == "day":
        return day.isoformat()
    if by == "week":
        return (day - timedelta(days=(day.weekday() - week_start) % 7)).isoformat()
    return f"{day.year:04}-{day.month:02}"


def _model_matches(model: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(model, pattern) or fnmatch.fnmatchcase(
        model.partition("/")[2] or model, pattern
    )


def build_report(
    store: Store,
    settings: AgentSettings | None = None,
    *,
    by: str = "day",
    since: str | None = None,
    until: str | None = None,
    model: str | None = None,
    session: str | None = None,
    cwd: str | None = None,
    timezone: str | None = None,
    start_of_week: str = "monday",
    rebuild: bool = False,
    reprice: bool = False,
    now: float | None = None,
) -> UsageReport:
    """Group the requests of `store`'s sessions. `since`/`until` take dates or spans; day
    and week reports default to the last 30 days. With `reprice`, requests the provider did
    not price are priced with `settings` now, not with what they cost when made."""
    if by not in GROUPINGS:
        raise ConfigError(f"--by: must be one of {', '.join(GROUPINGS)}, not {by!r}")
    if start_of_week not in ("monday", "sunday"):
        raise ConfigError(f"--start-of-week: must be monday or sunday, not {start_of_week!r}")
    clock = Clock(timezone)
    now = time.time() if now is None else now
    start = parse_when(since, clock, now, end=False, option="--since") if since else None
    stop = parse_when(until, clock, now, end=True, option="--until") if until else None
    if start is None and by in ("day", "week"):
        start = clock.start_of(clock.date_of(now) - timedelta(days=DEFAULT_DAYS - 1))
    query = _Query(by, start, stop, session, cwd)
    reports = store.reports(rebuild=rebuild)
    sums, labels = _from_index(reports.index, query)
    estimator = None
    if reprice:
        from mamba_agents.tokens import CostEstimator

        estimator = CostEstimator(settings)
    week_start = 0 if start_of_week == "monday" else 6

    def key_of(part: RequestSum) -> str:
        if by in ("day", "week", "month"):
            return _period(clock.bucket_date(cast(int, part.key)), by, week_start)
        if by == "model":
            return part.model
        if by == "user":
            return cast(str, part.key) or UNKNOWN_USER
        return cast(str, part.key)

    groups: dict[str, UsageRow] = {}
    for part in _merged(sums, key_of, model):
        priced = _priced(part, estimator)
        group = groups.setdefault(cast(str, part.key), UsageRow(cast(str, part.key)))
        group.totals.add(priced)
        group.breakdown.setdefault(part.model, UsageTotals()).add(priced)
    ordered = _order(groups, by)
    if by == "session":
        _label_sessions(labels, ordered)
    totals = UsageTotals()
    for row in ordered:
        totals.add(row.totals)
    return UsageReport(
        by, clock.name, start, stop, ordered, totals, reports.warnings, reports.index_error
    )


@dataclass(frozen=True)
class _Query:
    by: str
    start: float | None
    stop: float | None
    session: str | None
    cwd: str | None


def _from_index(
    index: ReportIndex, query: _Query
) -> tuple[list[RequestSum], dict[str, tuple[str, str, str]]]:
    """The query's sums and, for a session report, each session's title, folder and last
    activity."""
    sums = index.request_sums(
        query.by if query.by in ("session", "model", "user") else "time",
        start=query.start,
        stop=query.stop,
        session_prefix=query.session,
        cwd=query.cwd,
        bucket_seconds=BUCKET_SECONDS,
    )
    labels = index.session_labels() if query.by == "session" else {}
    return sums, labels


def _merged(
    sums: list[RequestSum], key_of: Callable[[RequestSum], str], model: str | None
) -> list[RequestSum]:
    """The sums of each row's key, model and cost source added up (a report by day may read
    thousands of quarter hours); only models matching the glob `model`."""
    merged: dict[tuple[str, str, str], list[Any]] = {}
    for part in sums:
        if model and not _model_matches(part.model, model):
            continue
        usage = part.usage
        values = (
            part.requests,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            part.cost,
        )
        group = (key_of(part), part.model, part.source)
        amounts = merged.get(group)
        if amounts is None:
            merged[group] = list(values)
        else:
            for index, value in enumerate(values):
                amounts[index] += value
    return [
        RequestSum(key, model, source, requests, Usage(*tokens), cost)
        for (key, model, source), (requests, *tokens, cost) in merged.items()
    ]


def _priced(part: RequestSum, estimator: CostEstimator | None) -> UsageTotals:
    """A sum's totals at the cost recorded with its requests; with an `estimator`, the
    requests the provider did not price are priced again by it."""
    usage = part.usage
    totals = UsageTotals(
        part.requests,
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        models={part.model},
    )
    if part.source == "reported":
        totals.cost_reported_usd = part.cost
        return totals
    cost, source = estimator.cost_of(usage, part.model) if estimator else (part.cost, part.source)
    if source == "unpriced":
        totals.unpriced_tokens = usage.total_tokens
    else:
        totals.cost_estimated_usd = cost
    return totals


def _order(groups: dict[str, UsageRow], by: str) -> list[UsageRow]:
    if by == "model":
        return sorted(groups.values(), key=lambda r: (-r.totals.cost_usd, r.key))
    return [groups[k] for k in sorted(groups)]


def _label_sessions(labels: dict[str, tuple[str, str, str]], rows: list[UsageRow]) -> None:
    """Titles, folders and last activity of session rows; sorted by last activity."""
    for row in rows:
        row.title, row.cwd, row.last_activity = labels.get(row.key, ("", "", ""))
    rows.sort(key=lambda r: (r.last_activity or "", r.key))
