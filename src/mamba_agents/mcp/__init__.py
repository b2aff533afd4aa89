"""MCP servers (stdio, SSE, streamable HTTP) whose tools agents can call.

Nothing here imports the `mcp` SDK until a server is started.
"""

from mamba_agents.config import MCPServerConfig, read_mcp_json
from mamba_agents.mcp._manager import MCPClientManager, MCPManager, MCPPrompt, ServerStatus
from mamba_agents.mcp._tools import MCPTool, MCPToolset, tool_name

__all__ = [
    "MCPClientManager",
    "MCPManager",
    "MCPPrompt",
    "MCPServerConfig",
    "MCPTool",
    "MCPToolset",
    "ServerStatus",
    "read_mcp_json",
    "tool_name",
]
