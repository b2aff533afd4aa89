"""Usage records per model request and their sums."""

from __future__ import annotations

from dataclasses import dataclass, field

from mamba_agents.messages import Usage, utc_now
from mamba_agents.tokens._cost import combine_sources


@dataclass(frozen=True)
class UsageRecord:
    """One model request's tokens and cost."""

    model: str
    usage: Usage
    cost_usd: float = 0.0
    cost_source: str = "unpriced"
    timestamp: str = field(default_factory=utc_now)

    @property
    def total_tokens(self) -> int:
        return self.usage.total_tokens


@dataclass(frozen=True)
class TokenUsage:
    """Summed usage; `request_count` counts model requests, not runs."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    request_count: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.prompt_tokens
            + self.completion_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )


@dataclass(frozen=True)
class UsageSummary:
    """Totals overall and per model."""

    total: TokenUsage
    by_model: dict[str, TokenUsage]
    cost_usd: float
    cost_source: str


def _sum(records: list[UsageRecord]) -> TokenUsage:
    return TokenUsage(
        prompt_tokens=sum(r.usage.input_tokens for r in records),
        completion_tokens=sum(r.usage.output_tokens for r in records),
        cache_read_tokens=sum(r.usage.cache_read_tokens for r in records),
        cache_write_tokens=sum(r.usage.cache_write_tokens for r in records),
        request_count=len(records),
    )


class UsageTracker:
    """Collects a record per model request."""

    def __init__(self) -> None:
        self._records: list[UsageRecord] = []

    def record_usage(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        model: str = "",
        *,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        cost_usd: float = 0.0,
        cost_source: str = "unpriced",
    ) -> UsageRecord:
        """Add one request's usage."""
        record = UsageRecord(
            model,
            Usage(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens),
            cost_usd,
            cost_source,
        )
        self._records.append(record)
        return record

    def add(self, record: UsageRecord) -> None:
        self._records.append(record)

    def get_history(self) -> list[UsageRecord]:
        return list(self._records)

    def get_total(self) -> TokenUsage:
        return _sum(self._records)

    def get_summary(self) -> UsageSummary:
        models: dict[str, list[UsageRecord]] = {}
        for record in self._records:
            models.setdefault(record.model, []).append(record)
        return UsageSummary(
            total=_sum(self._records),
            by_model={m: _sum(rs) for m, rs in models.items()},
            cost_usd=sum(r.cost_usd for r in self._records),
            cost_source=combine_sources([r.cost_source for r in self._records]),
        )

    def reset(self) -> None:
        self._records.clear()
