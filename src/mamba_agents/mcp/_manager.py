"""`MCPClientManager`: several MCP servers started together, their tools and prompts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mamba_agents.config import MCPServerConfig
from mamba_agents.errors import AgentError
from mamba_agents.mcp._connection import ServerConnection
from mamba_agents.mcp._results import content_text
from mamba_agents.mcp._tools import PREFIX, MCPToolset, toolset
from mamba_agents.paths import mamba_home


@dataclass(frozen=True)
class ServerStatus:
    """How one server is doing: `connected`, `failed` (with `error`), `disabled`,
    `not approved` (held back, with the reason), `stopped` or `connecting`; its transport,
    tool count and start-up time."""

    name: str
    transport: str
    status: str
    tools: int = 0
    startup_seconds: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class MCPPrompt:
    """A prompt a server offers; in the chat it is the slash command `/<command>`."""

    server: str
    name: str
    description: str
    arguments: tuple[tuple[str, bool], ...]  # (name, required)

    @property
    def command(self) -> str:
        return f"{PREFIX}__{self.server}__{self.name}"


class MCPClientManager:
    """Connects to MCP servers and hands their tools to agents::

        async with MCPClientManager(servers) as manager:
            agent = Agent("openai/gpt-4o", toolsets=manager.get_toolsets())

    Servers start concurrently; one that fails (missing command, crash, hang past its
    start-up timeout) is reported in `statuses()` and never stops the others. `environ`
    fills in `${VAR}` references (default: the process environment); each stdio server's
    stderr goes to `log_dir/mcp-NAME.log` (default: `$MAMBA_HOME/logs`). Closing waits
    until each stdio server has exited, unless `detach_on_close`: then its stdin is closed
    and a watchdog process sends SIGTERM, then SIGKILL, if it is still there after the
    grace period (for a program about to exit, which need not wait for its servers).
    """

    def __init__(
        self,
        servers: Iterable[MCPServerConfig] | Mapping[str, MCPServerConfig] = (),
        *,
        environ: Mapping[str, str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        output_limit: int = 30_000,
        detach_on_close: bool = False,
    ) -> None:
        configs = list(servers.values()) if isinstance(servers, Mapping) else list(servers)
        self.environ = os.environ if environ is None else environ
        self.log_dir = Path(log_dir) if log_dir is not None else mamba_home() / "logs"
        self.output_limit = output_limit
        self.detach_on_close = detach_on_close
        self._connections: dict[str, ServerConnection] = {}
        for config in configs:
            self._add(config)
        self.started = False

    def _connection(self, config: MCPServerConfig) -> ServerConnection:
        return ServerConnection(
            config, environ=self.environ, log_dir=self.log_dir, detach=self.detach_on_close
        )

    def _add(
        self, config: MCPServerConfig, clash: str = "two MCP servers are named '{}'"
    ) -> ServerConnection:
        """A connection for a server whose name is not taken yet."""
        if config.name in self._connections:
            raise AgentError(clash.format(config.name))
        connection = self._connections[config.name] = self._connection(config)
        return connection

    async def __aenter__(self) -> MCPClientManager:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def spawn(self) -> None:
        """Start the stdio servers' processes now, before the SDK loads: their start-up
        overlaps with whatever the caller does until `start()` (which spawns them itself
        when this was not called)."""
        for connection in self._connections.values():
            connection.spawn()

    def hold(self, config: MCPServerConfig, reason: str) -> None:
        """List a server that is not to start (status `not approved`, with the reason)."""
        connection = self._add(config)
        connection.status, connection.error = "not approved", reason

    async def start(self) -> None:
        """Start every configured server at once; returns when each is connected or failed."""
        self.started = True
        waiting = [c for c in self._connections.values() if c.status == "stopped"]
        await asyncio.gather(*(c.start() for c in waiting))

    async def connect(
        self,
        name: str,
        *,
        command: str | None = None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        url: str | None = None,
        transport: str | None = None,
        **options: Any,
    ) -> ServerStatus:
        """Add one server and start it (immagent's shape); its status."""
        config = MCPServerConfig(
            name=name,
            transport=transport or ("stdio" if command else "http"),
            command=command,
            args=list(args or []),
            env=dict(env or {}),
            url=url,
            **options,
        )
        connection = self._add(config, "an MCP server named '{}' is already connected")
        self.started = True
        await connection.start()
        return self.status(name)

    async def reconnect(self, name: str) -> ServerStatus:
        """Stop one server and start it again; its new status."""
        old = self._server(name)
        await old.close()
        connection = self._connections[name] = self._connection(old.config)
        await connection.start()
        return self.status(name)

    def _server(self, name: str) -> ServerConnection:
        try:
            return self._connections[name]
        except KeyError:
            known = ", ".join(sorted(self._connections)) or "none"
            raise AgentError(f"no MCP server named '{name}' (configured: {known})") from None

    def status(self, name: str) -> ServerStatus:
        """One server's status."""
        c = self._server(name)
        tools = len(toolset(c, self.output_limit)) if c.status == "connected" else 0
        return ServerStatus(c.name, c.config.transport, c.status, tools, c.startup_seconds, c.error)

    def statuses(self) -> list[ServerStatus]:
        """Every server's status, in configuration order."""
        return [self.status(name) for name in self._connections]

    def get_toolsets(self) -> list[MCPToolset]:
        """The tools of each server that listed them (named `mcp__<server>__<tool>`); those
        of a server that failed since answer with a tool error saying why."""
        return [toolset(c, self.output_limit) for c in self._connections.values() if c.tools]

    def get_tools(self) -> list[Any]:
        """The tools of `get_toolsets()` in one list."""
        return [tool for tools in self.get_toolsets() for tool in tools]

    def server_tools(self, name: str) -> list[Any]:
        """The tool descriptions one server listed (its own names, schemas, annotations)."""
        return list(self._server(name).tools)

    def get_prompts(self) -> list[MCPPrompt]:
        """The prompts of every connected server."""
        return [
            MCPPrompt(
                c.name,
                p.name,
                p.description or p.title or "",
                tuple((a.name, bool(a.required)) for a in p.arguments or ()),
            )
            for c in self._connections.values()
            if c.status == "connected"
            for p in c.prompts
        ]

    async def get_prompt(self, server: str, name: str, arguments: dict[str, str]) -> list[Any]:
        """Fill in a server's prompt: its messages as `(role, text)` pairs."""
        result = await self._server(server).get_prompt(name, arguments)
        return [(message.role, content_text([message.content])) for message in result.messages]

    async def aclose(self) -> None:
        """Stop every server (concurrently); no process outlives this."""
        await asyncio.gather(*(c.close() for c in self._connections.values()))


MCPManager = MCPClientManager
"""immagent's name: `async with MCPManager() as mcp: await mcp.connect(name, command=...)`."""
