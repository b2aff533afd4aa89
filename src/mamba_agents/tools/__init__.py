"""Tools the agent can call: plain Python functions become tools with a JSON schema."""

from mamba_agents.tools._function_tool import Tool, as_tool, tool_from_function

__all__ = ["Tool", "as_tool", "tool_from_function"]
