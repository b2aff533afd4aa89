"""The usage accumulator: one record per model request, priced as it is recorded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mamba_agents.messages import Message, Usage, utc_now
from mamba_agents.tokens._cost import CostEstimator, combine_sources


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
    """Summed usage under the names of the OpenAI protocol: a view of a `Usage` and the
    number of model requests it sums (`request_count` counts requests, not runs)."""

    usage: Usage = field(default_factory=Usage)
    request_count: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.usage.prompt_tokens

    @property
    def completion_tokens(self) -> int:
        return self.usage.output_tokens

    @property
    def cache_read_tokens(self) -> int:
        return self.usage.cache_read_tokens

    @property
    def cache_write_tokens(self) -> int:
        return self.usage.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.usage.total_tokens

    def __repr__(self) -> str:
        return (
            f"TokenUsage(prompt_tokens={self.prompt_tokens}, "
            f"completion_tokens={self.completion_tokens}, "
            f"cache_read_tokens={self.cache_read_tokens}, "
            f"cache_write_tokens={self.cache_write_tokens}, "
            f"total_tokens={self.total_tokens}, request_count={self.request_count})"
        )


@dataclass(frozen=True)
class UsageSummary:
    """Totals overall and per model, with their cost and where the cost came from."""

    total: TokenUsage
    by_model: dict[str, TokenUsage]
    cost_usd: float
    cost_source: str


def _total(records: Iterable[UsageRecord]) -> TokenUsage:
    usage, count = Usage(), 0
    for record in records:
        usage, count = usage + record.usage, count + 1
    return TokenUsage(usage, count)


class UsageTracker:
    """Collects a record per model request. A request recorded without a cost is priced
    with `pricing` (the model's prices from the bundled table and config)."""

    def __init__(self, pricing: CostEstimator | None = None) -> None:
        self._pricing = pricing
        self._records: list[UsageRecord] = []

    @classmethod
    def from_messages(
        cls, messages: Iterable[Message], pricing: CostEstimator | None = None
    ) -> UsageTracker:
        """A tracker holding the requests that made these assistant messages."""
        tracker = cls(pricing)
        for message in messages:
            if message.role == "assistant" and message.usage is not None:
                tracker.add(
                    UsageRecord(
                        message.model or "",
                        message.usage,
                        message.cost_usd or 0.0,
                        message.cost_source or "unpriced",
                        message.created_at,
                    )
                )
        return tracker

    @property
    def pricing(self) -> CostEstimator:
        if self._pricing is None:
            self._pricing = CostEstimator()
        return self._pricing

    def record_usage(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        model: str = "",
        *,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        cost_usd: float | None = None,
        cost_source: str | None = None,
    ) -> UsageRecord:
        """Add one request's usage; without `cost_usd` it is priced with the model's prices
        (`unpriced` at zero cost when they are unknown)."""
        usage = Usage(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        if cost_usd is None:
            cost_usd, priced = self.pricing.cost_of(usage, model)
            cost_source = cost_source or priced
        record = UsageRecord(model, usage, cost_usd, cost_source or "reported")
        self._records.append(record)
        return record

    def add(self, record: UsageRecord) -> None:
        self._records.append(record)

    def get_history(self) -> list[UsageRecord]:
        return list(self._records)

    def get_total(self) -> TokenUsage:
        return _total(self._records)

    def get_cost(self) -> float:
        return sum(r.cost_usd for r in self._records)

    def get_cost_source(self) -> str:
        """`unpriced` if any request is, `reported` if all are, else `estimated`."""
        return combine_sources([r.cost_source for r in self._records])

    def get_summary(self) -> UsageSummary:
        models: dict[str, list[UsageRecord]] = {}
        for record in self._records:
            models.setdefault(record.model, []).append(record)
        return UsageSummary(
            total=self.get_total(),
            by_model={m: _total(rs) for m, rs in models.items()},
            cost_usd=self.get_cost(),
            cost_source=self.get_cost_source(),
        )

    def reset(self) -> None:
        self._records.clear()
