"""mamba_agents: an agent engine with sessions, tools, usage and cost tracking.

Names are imported on first use so that `import mamba_agents` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from mamba_agents._version import __version__

_EXPORTS = {
    "Agent": "mamba_agents.engine",
    "AgentConfig": "mamba_agents.engine",
    "AgentRun": "mamba_agents.engine",
    "ModelStep": "mamba_agents.engine",
    "ToolStep": "mamba_agents.engine",
    "ContextState": "mamba_agents.engine",
    "AgentSettings": "mamba_agents.config",
    "CompactionConfig": "mamba_agents.config",
    "Message": "mamba_agents.messages",
    "ToolCall": "mamba_agents.messages",
    "Usage": "mamba_agents.messages",
    "RunResult": "mamba_agents.events",
    "parse_event": "mamba_agents.events",
    "Session": "mamba_agents.store",
    "SessionStore": "mamba_agents.store",
    "Tool": "mamba_agents.tools",
    "tool_from_function": "mamba_agents.tools",
    "AgentError": "mamba_agents.errors",
    "Workflow": "mamba_agents.workflows",
    "WorkflowConfig": "mamba_agents.workflows",
    "WorkflowHooks": "mamba_agents.workflows",
    "WorkflowResult": "mamba_agents.workflows",
    "WorkflowState": "mamba_agents.workflows",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mamba_agents' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
