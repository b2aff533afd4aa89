"""Cost from separate input, output and cache prices; unpriced rather than guessed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mamba_agents.backends import ModelProfile, get_profile
from mamba_agents.messages import Usage

if TYPE_CHECKING:
    from mamba_agents.config import AgentSettings


@dataclass(frozen=True)
class CostBreakdown:
    """Cost of some usage in USD. `source` is `reported`, `estimated` or `unpriced`."""

    prompt_cost: float = 0.0
    completion_cost: float = 0.0
    cache_read_cost: float = 0.0
    cache_write_cost: float = 0.0
    source: str = "estimated"

    @property
    def total_cost(self) -> float:
        return (
            self.prompt_cost + self.completion_cost + self.cache_read_cost + self.cache_write_cost
        )


class CostEstimator:
    """Prices usage with the model's own prices (LiteLLM's table plus config overrides).

    Cache reads fall back to the input price and cache writes too when the table has no
    cache price of its own. A model without prices is `unpriced` with zero cost.
    """

    def __init__(self, settings: AgentSettings | None = None):
        self.settings = settings
        self._profiles: dict[str, ModelProfile] = {}

    def profile(self, model: str) -> ModelProfile:
        if model not in self._profiles:
            self._profiles[model] = get_profile(model, self.settings)
        return self._profiles[model]

    def estimate(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        model: str = "",
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> CostBreakdown:
        """Cost of one request's tokens with `model`'s prices."""
        profile = self.profile(model)
        if not profile.priced:
            return CostBreakdown(source="unpriced")
        input_price = profile.input_cost_per_token or 0.0
        read_price = profile.cache_read_cost_per_token
        write_price = profile.cache_write_cost_per_token
        return CostBreakdown(
            prompt_cost=input_tokens * input_price,
            completion_cost=output_tokens * (profile.output_cost_per_token or 0.0),
            cache_read_cost=cache_read_tokens * (input_price if read_price is None else read_price),
            cache_write_cost=cache_write_tokens
            * (input_price if write_price is None else write_price),
            source="estimated",
        )

    def cost_of(self, usage: Usage, model: str, reported: float | None = None) -> tuple[float, str]:
        """(cost, source) of one request: the provider's figure when it gave one."""
        if reported is not None:
            return reported, "reported"
        breakdown = self.estimate(
            usage.input_tokens,
            usage.output_tokens,
            model,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
        )
        return breakdown.total_cost, breakdown.source


def combine_sources(sources: list[str]) -> str:
    """The source of a sum: `unpriced` if any part is, `reported` if all are, else `estimated`."""
    if "unpriced" in sources:
        return "unpriced"
    if sources and all(s == "reported" for s in sources):
        return "reported"
    return "estimated"
