"""One MCP server: a task that holds its connection, and the calls other tasks make on it."""

from __future__ import annotations

import asyncio
import contextlib
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from mamba_agents.config import MCPServerConfig
from mamba_agents.errors import ConfigError, ToolExecutionError
from mamba_agents.mcp._results import result_text
from mamba_agents.observability import span

TAIL_LINES = 3
LOG_LIMIT = 1_000_000  # bytes of a server's stderr log kept from the runs before
HEARTBEAT_SECONDS = 2.0


class ServerConnection:
    """Starts one server and keeps it connected until `close()`.

    The connection is entered and left by one supervisor task (the SDK requires it);
    tool calls and prompt requests from other tasks go through the live client. `status` is
    `stopped`, `connecting`, `connected`, `failed` or `disabled`; `error` says why it failed,
    with the tail of the server's stderr log (kept in `log_path`).
    """

    def __init__(
        self,
        config: MCPServerConfig,
        *,
        environ: Mapping[str, str],
        log_dir: Path,
        detach: bool = False,
    ) -> None:
        self.config = config
        self.detach = detach
        self.environ = environ
        self.log_path = log_dir / f"mcp-{config.name}.log"
        self.status = "stopped"
        self.error: str | None = None
        self.tools: list[Any] = []
        self.prompts: list[Any] = []
        self.startup_seconds: float | None = None
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._ready = asyncio.Event()
        self._log_offset = 0
        self._resolved: MCPServerConfig | None = None
        self._process: Any = None  # a stdio server's process, once spawned
        self._spawned_at: float | None = None
        self._refused: str | None = None  # an HTTP error status the server answered

    @property
    def name(self) -> str:
        return self.config.name

    def spawn(self) -> None:
        """Resolve the entry and, for a stdio server, start its process now, before the SDK
        is imported (`start()` does it when it was not done)."""
        if not self.config.enabled:
            self.status = "disabled"
            return
        if self.status != "stopped" or self._resolved is not None:
            return
        try:
            self._resolved = self.config.resolved(self.environ)
        except ConfigError as exc:
            self._fail(str(exc), tail=False)
            return
        if self._resolved.transport != "stdio":
            return
        from mamba_agents.mcp._stdio import spawn

        folder = self._resolved.cwd
        if folder and not Path(folder).is_dir():
            self._fail(f"cwd: no such directory: {folder}", tail=False)
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        rotate(self.log_path)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            try:
                self._spawned_at = time.monotonic()
                self._process = spawn(self._resolved, log)
            except FileNotFoundError:
                self._fail(f"command not found: {self._resolved.command}", tail=False)
            except OSError as exc:
                self._fail(f"cannot run {self._resolved.command}: {exc.strerror}", tail=False)

    async def start(self) -> None:
        """Connect and list the server's tools and prompts, or fail within the start-up
        timeout; never raises for the server's own faults (see `status` and `error`)."""
        self.spawn()
        started = self._spawned_at or time.monotonic()
        if self.status != "stopped" or self._resolved is None:
            return
        self.status, self.error, self._refused = "connecting", None, None
        self._stop, self._ready = asyncio.Event(), asyncio.Event()
        self._task = asyncio.create_task(self._supervise(self._resolved), name=f"mcp-{self.name}")
        try:
            await asyncio.wait_for(asyncio.shield(self._ready.wait()), self.config.startup_timeout)
        except TimeoutError:
            self._fail(f"did not start within {self.config.startup_timeout:g} s")
            await self._end_task()
        if self.status == "connected":
            self.startup_seconds = time.monotonic() - started

    async def _supervise(self, config: MCPServerConfig) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = await stack.enter_async_context(await self._client_for(config, stack))
                self.tools = await _all_pages(client.list_tools, "tools")
                if client.server_capabilities.prompts is not None:
                    self.prompts = await _all_pages(client.list_prompts, "prompts")
                self._client, self.status = client, "connected"
                self._ready.set()
                await self._watch(client)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the SDK groups what escapes its task groups
            if self.status != "failed":
                self._fail(self._refused or _describe(exc, config))
        finally:
            self._client = None
            self._ready.set()

    async def _watch(self, client: Any) -> None:
        """Wait for `close()`, pinging the server now and then so that one that died while
        idle is reported failed (a slow answer is not a failure)."""
        from mcp import MCPDeprecationWarning, MCPError
        from mcp.types import CONNECTION_CLOSED

        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), HEARTBEAT_SECONDS)
                return
            try:
                with warnings.catch_warnings():
                    # Newer servers answer a ping with "method not found": still alive.
                    warnings.simplefilter("ignore", MCPDeprecationWarning)
                    await client.send_ping()
            except MCPError as exc:
                if exc.code != CONNECTION_CLOSED:
                    continue  # a slow or odd answer: the server is still there
                if not self._stop.is_set():
                    self._fail("the server stopped")
                return

    async def _client_for(self, config: MCPServerConfig, stack: contextlib.AsyncExitStack) -> Any:
        _quiet_sdk_logs()
        from mcp import Client
        from mcp.types import Implementation

        from mamba_agents import __version__

        if config.transport == "stdio":
            from mamba_agents.mcp._stdio import stdio_transport

            transport: Any = stdio_transport(self._process, detach=self.detach)
        elif config.transport == "sse":
            from mcp.client.sse import sse_client

            transport = sse_client(config.url or "", headers=config.headers, timeout=10.0)
        else:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            async def note_refusal(response: Any) -> None:
                if response.status_code >= 400 and self.status == "connecting":
                    self._refused = f"{config.url} answered HTTP {response.status_code}"

            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    headers=config.headers,
                    timeout=httpx2.Timeout(30.0, read=300.0),
                    event_hooks={"response": [note_refusal]},
                )
            )
            transport = streamable_http_client(config.url or "", http_client=http)
        return Client(
            transport,
            read_timeout_seconds=config.timeout,
            mode=config.mode,
            cache=None,
            client_info=Implementation(name="mamba", version=__version__),
        )

    def _fail(self, reason: str, *, tail: bool = True) -> None:
        last = self.log_tail() if tail else ""
        self.status = "failed"
        self.error = f"{reason} (stderr: {last})" if last else reason
        self._ready.set()

    def log_tail(self) -> str:
        """The last lines the server wrote on stderr since it was started."""
        if self.config.transport != "stdio":
            return ""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(self._log_offset)
                text = handle.read()[-4096:].decode("utf-8", errors="replace")
        except OSError:
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return " | ".join(lines[-TAIL_LINES:])[-300:]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        """Call one of the server's tools; its answer as text, ToolExecutionError when the
        tool reported an error or the server failed, timed out or answered nonsense."""
        attributes = {
            "mcp.method.name": "tools/call",
            "gen_ai.tool.name": name,
            "gen_ai.operation.name": "execute_tool",
            "mamba.mcp.server": self.name,
            "network.transport": "pipe" if self.config.transport == "stdio" else "tcp",
        }
        with span(f"tools/call {name}", attributes, kind="client"):
            result = await self._request(
                lambda client: client.call_tool(
                    name, arguments, read_timeout_seconds=self.config.timeout
                )
            )
            text = result_text(result)
            if result.is_error:
                raise ToolExecutionError(text or f"{name} failed on MCP server '{self.name}'")
            return text

    async def get_prompt(self, name: str, arguments: dict[str, str]) -> Any:
        """Fill in one of the server's prompts; its `GetPromptResult`."""
        return await self._request(lambda client: client.get_prompt(name, arguments))

    async def _request(self, send: Callable[[Any], Awaitable[Any]]) -> Any:
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        client = self._client
        if client is None:
            raise ToolExecutionError(f"MCP server '{self.name}' is not connected: {self.error}")
        try:
            return await send(client)
        except MCPError as exc:
            if exc.code == REQUEST_TIMEOUT:
                raise ToolExecutionError(
                    f"MCP server '{self.name}' did not answer within {self.config.timeout:g} s"
                ) from None
            if exc.code == CONNECTION_CLOSED and self._stop.is_set():
                raise ToolExecutionError(f"MCP server '{self.name}' was stopped") from None
            if exc.code == CONNECTION_CLOSED:
                self._fail("the server stopped")
                raise ToolExecutionError(f"MCP server '{self.name}' failed: {self.error}") from None
            raise ToolExecutionError(f"MCP server '{self.name}': {exc}") from None
        except (ValueError, RuntimeError) as exc:  # pydantic's ValidationError is a ValueError
            raise ToolExecutionError(
                f"MCP server '{self.name}' sent a malformed answer: {_first_line(exc)}"
            ) from None
        except Exception as exc:
            if self._client is None:
                raise ToolExecutionError(f"MCP server '{self.name}' failed: {self.error}") from None
            raise ToolExecutionError(
                f"MCP server '{self.name}': {type(exc).__name__}: {_first_line(exc)}"
            ) from None

    async def close(self) -> None:
        """Disconnect and stop the server's process (stdin closed, then SIGTERM, SIGKILL)."""
        self._stop.set()
        await self._end_task()
        if self._process is not None and self._process.poll() is None:
            from mamba_agents.mcp._stdio import stop

            await stop(self._process, detach=self.detach)  # spawned, never connected
        if self.status in ("connected", "connecting"):
            self.status = "stopped"

    async def _end_task(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if self._stop.is_set() and self.status == "connected" and not task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), 6.0)
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def rotate(log: Path) -> None:
    """Keep a server's stderr log small: once it is over `LOG_LIMIT`, it becomes
    `mcp-NAME.log.1` (replacing the one before) and a new one starts."""
    try:
        if log.stat().st_size > LOG_LIMIT:
            log.replace(log.with_name(log.name + ".1"))
    except OSError:
        pass


def _quiet_sdk_logs() -> None:
    """The SDK logs a server's protocol faults with tracebacks; they are the server's
    business (its status says what went wrong), so they reach stderr only in debug mode."""
    import logging

    logger = logging.getLogger("mcp")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.propagate = logging.getLogger().level <= logging.DEBUG


async def _all_pages(list_page: Callable[..., Awaitable[Any]], field: str) -> list[Any]:
    """Every item of a paged listing."""
    items: list[Any] = []
    cursor = None
    while True:
        page = await list_page(cursor=cursor)
        items += getattr(page, field)
        cursor = page.next_cursor
        if not cursor:
            return items


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _describe(exc: BaseException, config: MCPServerConfig) -> str:
    """Why a server could not start or stopped, in one line."""
    leaves = [e for e in _leaves(exc) if not isinstance(e, asyncio.CancelledError)] or [exc]
    first = leaves[0]
    code = getattr(first, "code", None)
    if code == -32000:
        return "the server exited during start-up"
    name = type(first).__name__
    if name in ("ConnectError", "ConnectTimeout"):
        return f"cannot connect to {config.url}"
    if name == "HTTPStatusError":
        response = getattr(first, "response", None)
        status = getattr(response, "status_code", "?")
        return f"{config.url} answered HTTP {status}"
    return f"{name}: {_first_line(first)}"
