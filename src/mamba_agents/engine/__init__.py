"""The agent loop and the `Agent` facade."""

from mamba_agents.engine._run import AgentRun, ModelStep, RunLimits, Step, ToolStep
from mamba_agents.engine._steps import ModelResponse, ToolOutcome
from mamba_agents.engine.agent import Agent, AgentConfig, ContextState

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentRun",
    "ContextState",
    "ModelResponse",
    "ModelStep",
    "RunLimits",
    "Step",
    "ToolOutcome",
    "ToolStep",
]
