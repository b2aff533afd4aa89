"""An MCP server's tools as agent tools, named `mcp__<server>__<tool>`."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mamba_agents.mcp._connection import ServerConnection
from mamba_agents.tools import Tool, cap_text

PREFIX = "mcp"
_MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, tool: str) -> str:
    """The name the model sees: `mcp__<server>__<tool>`, with characters providers refuse
    replaced by `_` and cut to 64 characters."""
    return f"{PREFIX}__{server}__{_UNSAFE.sub('_', tool)}"[:_MAX_NAME]


@dataclass(frozen=True)
class MCPTool(Tool):
    """A tool of an MCP server. The server validates the arguments; `original_name` is the
    tool's name on the server."""

    server: ServerConnection | None = field(default=None, compare=False)
    original_name: str = ""
    output_limit: int = 30_000

    async def invoke(self, arguments: dict[str, Any]) -> str:
        assert self.server is not None
        text = await self.server.call_tool(self.original_name, arguments)
        return cap_text(text, self.output_limit)


@dataclass(frozen=True)
class MCPToolset:
    """The tools of one connected MCP server; iterate it for the tools."""

    server: str
    tools: tuple[MCPTool, ...]

    def __iter__(self) -> Iterator[MCPTool]:
        return iter(self.tools)

    def __len__(self) -> int:
        return len(self.tools)


def _wanted(name: str, include: list[str], exclude: list[str]) -> bool:
    if include and not any(fnmatch.fnmatchcase(name, p) for p in include):
        return False
    return not any(fnmatch.fnmatchcase(name, p) for p in exclude)


def _parameters(schema: Any) -> dict[str, Any]:
    """An input schema as a function's parameters: always an object with properties."""
    parameters = dict(schema) if isinstance(schema, dict) else {}
    parameters.pop("$schema", None)
    parameters["type"] = "object"
    parameters.setdefault("properties", {})
    return parameters


def toolset(connection: ServerConnection, output_limit: int) -> MCPToolset:
    """The server's tools, filtered by its include and exclude lists. A tool the server
    marks read-only (and not destructive) is a reading tool; every other one may change
    things."""
    config = connection.config
    tools: dict[str, MCPTool] = {}
    for spec in connection.tools:
        if not _wanted(spec.name, config.include_tools, config.exclude_tools):
            continue
        name = tool_name(config.name, spec.name)
        if name in tools:  # two names that differ only in refused characters
            continue
        hints = spec.annotations
        read_only = bool(hints and hints.read_only_hint and not hints.destructive_hint)
        tools[name] = MCPTool(
            name=name,
            description=spec.description or spec.title or spec.name,
            parameters=_parameters(spec.input_schema),
            function=connection.call_tool,
            risk="read" if read_only else "write",
            server=connection,
            original_name=spec.name,
            output_limit=output_limit,
        )
    return MCPToolset(config.name, tuple(tools.values()))
