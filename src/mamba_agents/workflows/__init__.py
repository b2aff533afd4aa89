"""Workflows: multi-step runs that drive agents step by step.

`Workflow` is the base to extend; `ReActWorkflow` and `PlanExecuteWorkflow` work with one
agent; `ChainWorkflow`, `ParallelWorkflow`, `RouterWorkflow` and
`EvaluatorOptimizerWorkflow` compose several.
"""

from mamba_agents.workflows._base import (
    Workflow,
    WorkflowConfig,
    WorkflowHooks,
    WorkflowResult,
    WorkflowState,
    WorkflowStep,
    WorkflowStop,
)
from mamba_agents.workflows._patterns import (
    RATINGS,
    ChainWorkflow,
    EvaluatorOptimizerWorkflow,
    ParallelWorkflow,
    RouterWorkflow,
    parse_rating,
)
from mamba_agents.workflows._plan import (
    PlanContext,
    PlanExecuteConfig,
    PlanExecuteWorkflow,
    parse_plan,
)
from mamba_agents.workflows._react import (
    ReActConfig,
    ReActContext,
    ReActHooks,
    ReActWorkflow,
    ScratchpadEntry,
    unwrap_answer,
)

__all__ = [
    "RATINGS",
    "ChainWorkflow",
    "EvaluatorOptimizerWorkflow",
    "ParallelWorkflow",
    "PlanContext",
    "PlanExecuteConfig",
    "PlanExecuteWorkflow",
    "ReActConfig",
    "ReActContext",
    "ReActHooks",
    "ReActWorkflow",
    "RouterWorkflow",
    "ScratchpadEntry",
    "Workflow",
    "WorkflowConfig",
    "WorkflowHooks",
    "WorkflowResult",
    "WorkflowState",
    "WorkflowStep",
    "WorkflowStop",
    "parse_plan",
    "parse_rating",
    "unwrap_answer",
]
