"""The agent loop and the `Agent` facade."""

from mamba_agents.engine.agent import Agent, AgentConfig, ContextState

__all__ = ["Agent", "AgentConfig", "ContextState"]
