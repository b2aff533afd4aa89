"""Token counting, usage tracking and cost estimation."""

from mamba_agents.tokens._cost import CostBreakdown, CostEstimator, combine_sources
from mamba_agents.tokens._counter import TokenCounter
from mamba_agents.tokens._usage import TokenUsage, UsageRecord, UsageSummary, UsageTracker

__all__ = [
    "CostBreakdown",
    "CostEstimator",
    "TokenCounter",
    "TokenUsage",
    "UsageRecord",
    "UsageSummary",
    "UsageTracker",
    "combine_sources",
]
