"""Keeping a conversation inside the model's window: `ContextManager` and the five
compaction strategies. Nothing here calls a model unless given one (`ask`)."""

from mamba_agents.config import CompactionConfig
from mamba_agents.context._fit import fit_tool_result
from mamba_agents.context._manager import CompactionResult, ContextManager, ContextWindowState
from mamba_agents.context._strategies import (
    SCORING_PROMPT,
    STRATEGIES,
    SUMMARY_PROMPT,
    HybridStrategy,
    ImportanceScoringStrategy,
    SelectivePruningStrategy,
    SlidingWindowStrategy,
    SummarizeOlderStrategy,
)
from mamba_agents.context._units import Unit, is_summary, protected, split_units

__all__ = [
    "SCORING_PROMPT",
    "STRATEGIES",
    "SUMMARY_PROMPT",
    "CompactionConfig",
    "CompactionResult",
    "ContextManager",
    "ContextWindowState",
    "HybridStrategy",
    "ImportanceScoringStrategy",
    "SelectivePruningStrategy",
    "SlidingWindowStrategy",
    "SummarizeOlderStrategy",
    "Unit",
    "fit_tool_result",
    "is_summary",
    "protected",
    "split_units",
]
