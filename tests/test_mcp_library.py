"""The MCP client library (`mamba_agents.mcp`) against real server processes: the test
server in `mcp_server.py` over stdio, streamable HTTP and SSE, and the third-party
`mcp-server-time` from PyPI. No part of mamba is replaced; conditions are waited for, never
slept on."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import MCP_SERVER, free_port, live_processes, wait_until
from scripted_backend import ScriptedBackend

from mamba_agents import Agent, AgentSettings
from mamba_agents.config import save_server
from mamba_agents.errors import AgentError, ConfigError, ToolExecutionError
from mamba_agents.events import InitEvent, RunResult, ToolResult
from mamba_agents.mcp import (
    MCPClientManager,
    MCPManager,
    MCPPrompt,
    MCPServerConfig,
    MCPTool,
    read_mcp_json,
    tool_name,
)
from mamba_agents.mcp._results import result_text

SERVER = MCP_SERVER
TIME_SERVER = Path(sys.executable).parent / "mcp-server-time"
ALL_TOOLS = {"add", "big", "crash", "echo", "env", "fail", "peek", "picture", "sleep"}
TEST_TIMEOUT = 90.0


# -- helpers -----------------------------------------------------------------------------------
def asynchronous(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run an `async def` test in its own event loop, bounded so a hang fails the test."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(asyncio.wait_for(test(*args, **kwargs), TEST_TIMEOUT))

    return wrapper


def unique(label: str) -> str:
    """A marker for one server process's command line (its `--name`), unique to this test."""
    return f"mcplib-{label}-{uuid.uuid4().hex[:10]}"


def stdio(name: str, marker: str, kind: str = "normal", **options: Any) -> MCPServerConfig:
    """The test server over stdio; `marker` finds its process in /proc."""
    return MCPServerConfig(
        name,
        command=sys.executable,
        args=[SERVER, "--kind", kind, "--name", marker],
        **options,
    )


def tools_of(manager: MCPClientManager) -> dict[str, MCPTool]:
    return {tool.name: tool for tool in manager.get_tools()}


async def call(manager: MCPClientManager, server: str, tool: str, **arguments: Any) -> str:
    """Call a tool the way an agent does: through the `MCPTool` the manager hands out."""
    return await tools_of(manager)[tool_name(server, tool)].invoke(arguments)


async def eventually(condition: Callable[[], Any], timeout: float = 10.0) -> bool:
    """Wait (without blocking the event loop) until `condition()` is true; its last answer."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return bool(condition())
        await asyncio.sleep(0.02)
    return True


async def assert_gone(*markers: str) -> None:
    for marker in markers:
        assert await eventually(lambda m=marker: not live_processes(m)), (
            f"server process {marker} still running: {live_processes(marker)}"
        )


def kill_leftovers(*markers: str) -> None:
    """After a failed test, do not leave its servers behind for the next tests."""
    for marker in markers:
        for pid in live_processes(marker):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def leftovers_killed(*markers: str) -> Iterator[None]:
    try:
        yield
    finally:
        kill_leftovers(*markers)


async def in_flight(manager: MCPClientManager, server: str, tool: str, **arguments: Any):
    """Start a call and return its task once the request has been sent: a quick call sent
    after it has been answered (requests leave in order on one connection)."""
    task = asyncio.create_task(call(manager, server, tool, **arguments))
    assert await call(manager, server, "add", a=1, b=1) == "2"
    assert not task.done()
    return task


def settings() -> AgentSettings:
    return AgentSettings(
        environ={}, load=False, overrides={"model_backend": {"model": "openai/gpt-4o"}}
    )


def tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["messages"] if m["role"] == "tool"]


# -- fixtures ----------------------------------------------------------------------------------
class _Recorder(BaseHTTPRequestHandler):
    """Keeps each request's headers and refuses it: 401."""

    seen: list[tuple[str, str, dict[str, str]]]

    def _refuse(self) -> None:
        self.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_DELETE = _refuse

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, str, dict[str, str]]]]]:
    """An HTTP server that records the headers it gets and answers 401: (base URL, seen)."""
    seen: list[tuple[str, str, dict[str, str]]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- 1. the three transports -------------------------------------------------------------------
@asynchronous
async def test_stdio_http_and_sse_servers_answer_through_the_manager(web_servers, tmp_path):
    marker = unique("stdio")
    servers = [
        stdio("local", marker),
        MCPServerConfig("web", transport="http", url=web_servers["http"]),
        MCPServerConfig("stream", transport="sse", url=web_servers["sse"]),
    ]
    with leftovers_killed(marker):
        async with MCPClientManager(servers, log_dir=tmp_path) as manager:
            statuses = {s.name: s for s in manager.statuses()}
            assert [s.name for s in manager.statuses()] == ["local", "web", "stream"]
            for name, transport in (("local", "stdio"), ("web", "http"), ("stream", "sse")):
                status = statuses[name]
                assert (status.transport, status.status, status.error) == (
                    transport,
                    "connected",
                    None,
                )
                assert status.tools == len(ALL_TOOLS)
                assert status.startup_seconds is not None and status.startup_seconds > 0
            results = await asyncio.gather(
                call(manager, "local", "add", a=2, b=3),
                call(manager, "web", "add", a=20, b=30),
                call(manager, "stream", "add", a=200, b=300),
            )
            assert results == ["5", "50", "500"]
            assert await call(manager, "web", "echo", text="über") == "echo: über"
            assert await call(manager, "stream", "echo", text="sse") == "echo: sse"
            assert await manager.get_prompt("web", "greet", {"person": "Ann"}) == [
                ("user", "Say hello to Ann in French.")
            ]
            assert live_processes(marker)
        await assert_gone(marker)
    assert [s.status for s in manager.statuses()] == ["stopped"] * 3
    # The manager did not start the web servers, and leaves them running.
    for web_marker in web_servers["markers"].values():
        assert live_processes(web_marker)


@asynchronous
async def test_configured_headers_are_sent_with_variables_filled_in(recorder, tmp_path):
    base, seen = recorder
    servers = [
        MCPServerConfig(
            "web",
            transport="http",
            url=f"{base}/mcp",
            headers={"X-Api-Token": "${WEB_TOKEN}", "X-Plain": "fixed"},
            startup_timeout=10,
        ),
        MCPServerConfig(
            "stream",
            transport="sse",
            url=f"{base}/sse",
            headers={"Authorization": "Bearer ${WEB_TOKEN}"},
            startup_timeout=10,
        ),
    ]
    environ = {"WEB_TOKEN": "tok-123"}
    async with MCPClientManager(servers, environ=environ, log_dir=tmp_path) as manager:
        statuses = {s.name: s for s in manager.statuses()}
    posts = [headers for method, path, headers in seen if (method, path) == ("POST", "/mcp")]
    gets = [headers for method, path, headers in seen if (method, path) == ("GET", "/sse")]
    assert posts and gets, seen
    assert all(h["x-api-token"] == "tok-123" and h["x-plain"] == "fixed" for h in posts)
    assert all(h["authorization"] == "Bearer tok-123" for h in gets)
    assert statuses["web"].status == statuses["stream"].status == "failed"
    assert statuses["stream"].error == f"{base}/sse answered HTTP 401"


@asynchronous
async def test_an_http_server_refusing_the_connection_is_reported_with_its_status(
    recorder, tmp_path
):
    base, _ = recorder
    config = MCPServerConfig("web", transport="http", url=f"{base}/mcp", startup_timeout=10)
    async with MCPClientManager([config], log_dir=tmp_path) as manager:
        status = manager.status("web")
    assert status.status == "failed"
    assert "401" in (status.error or ""), status.error


@asynchronous
async def test_unreachable_and_silent_web_servers_fail_without_stopping_the_others(tmp_path):
    silent = socket.socket()  # accepts connections (the kernel does) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    closed = free_port()
    marker = unique("beside-web")
    servers = [
        MCPServerConfig("closed", transport="http", url=f"http://127.0.0.1:{closed}/mcp"),
        MCPServerConfig(
            "silent",
            transport="sse",
            url=f"http://127.0.0.1:{silent.getsockname()[1]}/sse",
            startup_timeout=2,
        ),
        stdio("fine", marker),
    ]
    try:
        with leftovers_killed(marker):
            async with MCPClientManager(servers, log_dir=tmp_path) as manager:
                statuses = {s.name: s for s in manager.statuses()}
                assert statuses["closed"].status == "failed"
                assert (
                    statuses["closed"].error == f"cannot connect to http://127.0.0.1:{closed}/mcp"
                )
                assert statuses["silent"].status == "failed"
                assert statuses["silent"].error == "did not start within 2 s"
                assert statuses["fine"].status == "connected"
                assert await call(manager, "fine", "add", a=1, b=2) == "3"
                assert [t.server for t in manager.get_toolsets()] == ["fine"]
            await assert_gone(marker)
    finally:
        silent.close()


# -- 2. a third-party server -------------------------------------------------------------------
@asynchronous
async def test_the_third_party_time_server_over_stdio(tmp_path):
    assert TIME_SERVER.is_file(), "mcp-server-time is a dev dependency"
    config = MCPServerConfig("clock", command=str(TIME_SERVER), args=["--local-timezone", "UTC"])
    async with MCPClientManager([config], log_dir=tmp_path) as manager:
        assert manager.status("clock").status == "connected", manager.status("clock").error
        listed = {spec.name for spec in manager.server_tools("clock")}
        assert {"get_current_time", "convert_time"} <= listed
        tools = tools_of(manager)
        assert set(tools) == {tool_name("clock", name) for name in listed}
        tool = tools["mcp__clock__get_current_time"]
        assert tool.original_name == "get_current_time"
        assert {t.risk for t in tools.values()} == {"read"}  # it marks its tools read-only
        assert "timezone" in tool.parameters["properties"]
        before = datetime.now().astimezone()
        answer = json.loads(await tool.invoke({"timezone": "UTC"}))
        assert answer["timezone"] == "UTC"
        moment = datetime.fromisoformat(answer["datetime"])
        assert moment.utcoffset().total_seconds() == 0
        assert abs((moment - before).total_seconds()) < 120
        with pytest.raises(ToolExecutionError, match="Nowhere/Atlantis"):
            await tool.invoke({"timezone": "Nowhere/Atlantis"})
        # The server still answers after refusing a call.
        assert json.loads(await tool.invoke({"timezone": "Europe/Paris"}))["timezone"] == (
            "Europe/Paris"
        )
    assert manager.status("clock").status == "stopped"


# -- 3. names, filters, risk -------------------------------------------------------------------
@asynchronous
async def test_tool_names_filters_and_risk(tmp_path):
    markers = [unique(f"names-{i}") for i in range(3)]
    servers = [
        stdio("one", markers[0], env={"WHO": "one"}),
        stdio("two", markers[1], include_tools=["a*", "echo"], mode="legacy"),
        stdio("three", markers[2], exclude_tools=["crash", "s*"], env={"WHO": "three"}),
    ]
    with leftovers_killed(*markers):
        async with MCPClientManager(servers, log_dir=tmp_path) as manager:
            toolsets = {ts.server: ts for ts in manager.get_toolsets()}
            assert list(toolsets) == ["one", "two", "three"]
            names = {server: {t.name for t in ts} for server, ts in toolsets.items()}
            assert names["one"] == {f"mcp__one__{tool}" for tool in ALL_TOOLS}
            assert names["two"] == {"mcp__two__add", "mcp__two__echo"}
            assert names["three"] == {
                f"mcp__three__{tool}" for tool in ALL_TOOLS - {"crash", "sleep"}
            }
            assert [s.tools for s in manager.statuses()] == [9, 2, 7]
            # The filters hide tools from the agent, not from the server's listing.
            assert {spec.name for spec in manager.server_tools("two")} == ALL_TOOLS
            tools = tools_of(manager)
            assert len(tools) == 9 + 2 + 7  # the same tool names on two servers: both kept
            for name, tool in tools.items():
                expected = "read" if tool.original_name == "peek" else "write"
                assert tool.risk == expected, name
                assert tool.parameters["type"] == "object"
                assert "$schema" not in tool.parameters
                assert tool.schema()["function"]["name"] == name
            add = tools["mcp__one__add"]
            assert set(add.parameters["properties"]) == {"a", "b"}
            assert add.description == "Add two numbers."
            assert tools["mcp__one__peek"].risk == "read"
            # Each name reaches its own server.
            assert await tools["mcp__one__env"].invoke({"variable": "WHO"}) == "one"
            assert await tools["mcp__three__env"].invoke({"variable": "WHO"}) == "three"
            assert await tools["mcp__two__add"].invoke({"a": 1, "b": 1}) == "2"
            assert await tools["mcp__one__peek"].invoke({}) == "nothing changed"
            # An agent takes the tools of several servers at once.
            agent = Agent(
                settings=settings(), backend=ScriptedBackend(), toolsets=list(toolsets.values())
            )
            assert set(agent.tools) == set(tools)
    assert tool_name("srv", "weird.name/with spaces") == "mcp__srv__weird_name_with_spaces"
    assert len(tool_name("srv", "t" * 100)) == 64
    with pytest.raises(AgentError, match="two MCP servers are named 'one'"):
        MCPClientManager([stdio("one", "x"), stdio("one", "y")], log_dir=tmp_path)


# -- 4. results --------------------------------------------------------------------------------
@asynchronous
async def test_results_text_images_errors_prompts_and_the_output_cap(tmp_path):
    marker = unique("results")
    with leftovers_killed(marker):
        async with MCPClientManager(
            [stdio("kit", marker)], log_dir=tmp_path, output_limit=1000
        ) as manager:
            assert await call(manager, "kit", "add", a=40, b=2) == "42"
            assert await call(manager, "kit", "echo", text="line one\nline two") == (
                "echo: line one\nline two"
            )
            assert await call(manager, "kit", "picture") == "[image: image/png, 100 bytes]"
            # Text and structured content together: the text only, not the JSON again.
            assert await call(manager, "kit", "big", size=10) == "x" * 10
            assert await call(manager, "kit", "big", size=1000) == "x" * 1000
            capped = await call(manager, "kit", "big", size=5000)
            assert "[... 4000 bytes cut ...]" in capped
            head, _, tail = capped.partition("\n[... 4000 bytes cut ...]\n")
            assert head == tail == "x" * 500
            assert len(capped) < 1100
            with pytest.raises(ToolExecutionError) as caught:
                await call(manager, "kit", "fail", message="the disk is full")
            assert "the disk is full" in str(caught.value)
            with pytest.raises(ToolExecutionError, match=r"(?s)tool add.*valid integer"):
                await call(manager, "kit", "add", a="not a number", b=1)
            assert await call(manager, "kit", "add", a=1, b=2) == "3"  # still connected
            assert manager.get_prompts() == [
                MCPPrompt("kit", "greet", "Greet someone.", (("person", True),))
            ]
            assert manager.get_prompts()[0].command == "mcp__kit__greet"
            assert await manager.get_prompt("kit", "greet", {"person": "Zoé"}) == [
                ("user", "Say hello to Zoé in French.")
            ]
            with pytest.raises(AgentError, match=r"no MCP server named 'nope'.*kit"):
                await manager.get_prompt("nope", "greet", {})
        await assert_gone(marker)


def test_structured_content_is_shown_as_json_when_there_is_no_text():
    from mcp.types import CallToolResult, ImageContent, TextContent

    only = CallToolResult(content=[], structured_content={"n": 1, "name": "é"})
    assert result_text(only) == '{"n": 1, "name": "é"}'
    image = ImageContent(type="image", data="AAAA", mime_type="image/png")
    with_image = CallToolResult(content=[image], structured_content={"n": 2})
    assert result_text(with_image) == '[image: image/png, 3 bytes]\n{"n": 2}'
    both = CallToolResult(
        content=[TextContent(type="text", text="n is 3")], structured_content={"n": 3}
    )
    assert result_text(both) == "n is 3"


@asynchronous
async def test_a_tool_error_reaches_the_model_as_an_error_result(tmp_path):
    marker = unique("agent-error")
    model = ScriptedBackend(
        {"tool_calls": [{"name": "mcp__kit__fail", "arguments": {"message": "quota exceeded"}}]},
        {"text": "sorry"},
    )
    with leftovers_killed(marker):
        manager = MCPClientManager([stdio("kit", marker)], log_dir=tmp_path)
        agent = Agent(settings=settings(), backend=model, mcp=manager)
        events = [event async for event in agent.run_stream("try it")]
        results = [e for e in events if isinstance(e, ToolResult)]
        assert len(results) == 1
        assert results[0].name == "mcp__kit__fail" and results[0].is_error is True
        assert results[0].content.startswith("Error: ")
        assert "quota exceeded" in results[0].content
        assert tool_messages(model.requests[1])[0]["content"] == results[0].content
        assert events[-1].status == "success"
        await agent.aclose()
        await assert_gone(marker)


# -- 5. failure kinds --------------------------------------------------------------------------
@asynchronous
async def test_each_way_a_server_can_fail_to_start(tmp_path):
    markers = {kind: unique(kind) for kind in ("ok", "exit", "hang", "garbage", "off")}
    servers = [
        stdio("ok", markers["ok"]),
        MCPServerConfig("missing", command=str(tmp_path / "no-such-server")),
        stdio("exits", markers["exit"], kind="exit"),
        stdio("hangs", markers["hang"], kind="hang", startup_timeout=3),
        stdio("garbled", markers["garbage"], kind="garbage", startup_timeout=3),
        stdio("off", markers["off"], enabled=False),
    ]
    logs = tmp_path / "logs"
    with leftovers_killed(*markers.values()):
        async with MCPClientManager(servers, log_dir=logs) as manager:
            statuses = {s.name: s for s in manager.statuses()}
            assert {name: s.status for name, s in statuses.items()} == {
                "ok": "connected",
                "missing": "failed",
                "exits": "failed",
                "hangs": "failed",
                "garbled": "failed",
                "off": "disabled",
            }
            assert statuses["missing"].error == f"command not found: {tmp_path / 'no-such-server'}"
            exits = statuses["exits"].error or ""
            assert exits.startswith("the server exited during start-up")
            assert "fatal: cannot open the database" in exits
            for name in ("hangs", "garbled"):
                assert (statuses[name].error or "").startswith("did not start within 3 s")
            assert "(hang)" in (statuses["hangs"].error or "")  # the stderr tail
            for name in ("missing", "exits", "hangs", "garbled", "off"):
                assert statuses[name].tools == 0 and statuses[name].startup_seconds is None
            # stderr is kept, one log per server.
            assert "fatal: cannot open the database" in (logs / "mcp-exits.log").read_text()
            # The failed servers' processes are gone; the good one still works.
            await assert_gone(markers["exit"], markers["hang"], markers["garbage"])
            assert not live_processes(markers["off"])
            assert live_processes(markers["ok"])
            assert [ts.server for ts in manager.get_toolsets()] == ["ok"]
            assert await call(manager, "ok", "add", a=1, b=1) == "2"
            with pytest.raises(ToolExecutionError, match="'missing' is not connected: command"):
                await manager.get_prompt("missing", "greet", {"person": "x"})
        await assert_gone(*markers.values())


@asynchronous
async def test_a_server_that_crashes_mid_call(tmp_path):
    fragile, steady = unique("fragile"), unique("steady")
    with leftovers_killed(fragile, steady):
        async with MCPClientManager(
            [stdio("fragile", fragile), stdio("steady", steady)], log_dir=tmp_path
        ) as manager:
            first_pids = live_processes(fragile)
            assert len(first_pids) == 1
            tools = tools_of(manager)  # as an agent holds them
            with pytest.raises(ToolExecutionError) as caught:
                await tools["mcp__fragile__crash"].invoke({})
            message = str(caught.value)
            assert "MCP server 'fragile'" in message
            assert "crashing now" in message
            for _ in range(2):
                with pytest.raises(ToolExecutionError, match=r"MCP server 'fragile'.*crashing now"):
                    await tools["mcp__fragile__add"].invoke({"a": 1, "b": 1})
            assert await tools["mcp__steady__add"].invoke({"a": 2, "b": 2}) == "4"
            status = manager.status("fragile")
            assert status.status == "failed" and "crashing now" in (status.error or "")
            # Its tools stay offered: a call says why it cannot run.
            assert [ts.server for ts in manager.get_toolsets()] == ["fragile", "steady"]
            with pytest.raises(ToolExecutionError, match=r"MCP server 'fragile'.*crashing now"):
                await tools_of(manager)["mcp__fragile__add"].invoke({"a": 1, "b": 1})
            assert await call(manager, "steady", "add", a=2, b=2) == "4"
            await assert_gone(fragile)
            # A reconnect starts a new process, whose tools work.
            assert (await manager.reconnect("fragile")).status == "connected"
            assert live_processes(fragile) and live_processes(fragile) != first_pids
            assert await call(manager, "fragile", "add", a=3, b=3) == "6"
        await assert_gone(fragile, steady)


@asynchronous
async def test_a_call_longer_than_the_timeout_fails_and_the_server_stays(tmp_path):
    marker = unique("slow")
    with leftovers_killed(marker):
        async with MCPClientManager(
            [stdio("slow", marker, timeout=1)], log_dir=tmp_path
        ) as manager:
            started = time.monotonic()
            with pytest.raises(ToolExecutionError) as caught:
                await call(manager, "slow", "sleep", seconds=4)
            assert str(caught.value) == "MCP server 'slow' did not answer within 1 s"
            assert time.monotonic() - started < 3.5
            assert manager.status("slow").status == "connected"
            assert await call(manager, "slow", "add", a=5, b=5) == "10"
            assert await call(manager, "slow", "sleep", seconds=0.1) == "slept 0.1"
            # A call its caller gives up on (an agent's tool timeout) leaves the server usable.
            pending = await in_flight(manager, "slow", "sleep", seconds=0.9)
            pending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pending
            assert await call(manager, "slow", "add", a=6, b=6) == "12"
            assert manager.status("slow").status == "connected"
        await assert_gone(marker)


# -- 6. processes ------------------------------------------------------------------------------
@asynchronous
async def test_no_server_outlives_the_manager(tmp_path):
    quick, busy, body = unique("quick"), unique("busy"), unique("body")
    with leftovers_killed(quick, busy, body):
        manager = MCPClientManager([stdio("quick", quick), stdio("busy", busy)], log_dir=tmp_path)
        await manager.start()
        assert live_processes(quick) and live_processes(busy)
        # Closing while a call is running: the call ends with an error, nothing remains.
        pending = await in_flight(manager, "busy", "sleep", seconds=60)
        await manager.aclose()
        assert not live_processes(quick) and not live_processes(busy)
        with pytest.raises(ToolExecutionError, match="MCP server 'busy'"):
            await asyncio.wait_for(pending, 10)
        # The block of an `async with` ending with an exception.
        with pytest.raises(RuntimeError, match="the caller's own error"):
            async with MCPClientManager([stdio("body", body)], log_dir=tmp_path) as inner:
                assert live_processes(body)
                assert await call(inner, "body", "add", a=1, b=1) == "2"
                raise RuntimeError("the caller's own error")
        assert not live_processes(body)
        assert inner.status("body").status == "stopped"


@asynchronous
async def test_a_server_closed_during_a_call_is_reported_stopped(tmp_path):
    marker = unique("closed-busy")
    with leftovers_killed(marker):
        manager = MCPClientManager([stdio("busy", marker)], log_dir=tmp_path)
        await manager.start()
        pending = await in_flight(manager, "busy", "sleep", seconds=60)
        await manager.aclose()
        await asyncio.gather(pending, return_exceptions=True)
        status = manager.status("busy")
        assert (status.status, status.error) == ("stopped", None)


@asynchronous
async def test_a_server_that_dies_between_calls_is_reported_failed(tmp_path):
    marker = unique("killed")
    with leftovers_killed(marker):
        async with MCPClientManager([stdio("victim", marker)], log_dir=tmp_path) as manager:
            for pid in live_processes(marker):
                os.kill(pid, signal.SIGKILL)
            await assert_gone(marker)
            assert await eventually(lambda: manager.status("victim").status == "failed", 10), (
                manager.status("victim")
            )


# -- 7. environment ----------------------------------------------------------------------------
@asynchronous
async def test_a_server_gets_its_configured_environment_and_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SECRET_TOKEN", "s3cret-value-in-the-parent")
    monkeypatch.setenv("GREETING_IN_PARENT", "not for the server")
    marker = unique("env")
    config = MCPServerConfig(
        "envy",
        command=sys.executable,
        args=[SERVER, "--name", "${SERVER_TAG}"],
        env={
            "GREETING": "${GREETING_SOURCE}",
            "FALLBACK": "${NOT_SET_ANYWHERE:-the default}",
            "LITERAL": "plain",
            "PASSED_TOKEN": "${API_TOKEN}",
        },
    )
    broken = stdio("broken", unique("broken"), env={"NEEDED": "${MISSING_VARIABLE_X}"})
    environ = {"SERVER_TAG": marker, "GREETING_SOURCE": "bonjour", "API_TOKEN": "given-on-purpose"}
    with leftovers_killed(marker):
        async with MCPClientManager([config, broken], environ=environ, log_dir=tmp_path) as m:
            assert m.status("envy").status == "connected"
            assert live_processes(marker)  # `${SERVER_TAG}` in args was filled in

            async def env(variable: str) -> str:
                return await call(m, "envy", "env", variable=variable)

            assert await env("GREETING") == "bonjour"
            assert await env("FALLBACK") == "the default"
            assert await env("LITERAL") == "plain"
            assert await env("PASSED_TOKEN") == "given-on-purpose"
            assert await env("MY_SECRET_TOKEN") == "<unset>"
            assert await env("GREETING_IN_PARENT") == "<unset>"
            assert await env("SERVER_TAG") == "<unset>"  # the environ fills in, it is not given
            status = m.status("broken")
            assert status.status == "failed"
            assert status.error == "mcp.servers.broken.env.NEEDED: ${MISSING_VARIABLE_X} is not set"
        await assert_gone(marker)


# -- 8. the agent ------------------------------------------------------------------------------
@asynchronous
async def test_an_agent_starts_uses_and_stops_its_servers(tmp_path):
    good, dead = unique("agent-good"), unique("agent-dead")
    manager = MCPClientManager(
        [
            stdio("calc", good),
            MCPServerConfig("ghost", command=str(tmp_path / "missing")),
            stdio("dead", dead, kind="exit"),
        ],
        log_dir=tmp_path,
    )
    model = ScriptedBackend(
        {"tool_calls": [{"name": "mcp__calc__add", "arguments": {"a": 19, "b": 23}}]},
        {"text": "it is 42"},
    )
    with leftovers_killed(good, dead):
        agent = Agent(settings=settings(), backend=model, mcp=manager)
        assert not manager.started and not live_processes(good)
        events = [event async for event in agent.run_stream("add 19 and 23")]
        init = events[0]
        assert isinstance(init, InitEvent)
        by_name = {s["name"]: s for s in init.mcp_servers}
        assert list(by_name) == ["calc", "ghost", "dead"]
        assert by_name["calc"]["status"] == "connected" and by_name["calc"]["tools"] == 9
        assert by_name["ghost"]["status"] == "failed"
        assert by_name["ghost"]["error"].startswith("command not found")
        assert by_name["dead"]["status"] == "failed"
        assert "fatal: cannot open the database" in by_name["dead"]["error"]
        assert {f"mcp__calc__{tool}" for tool in ALL_TOOLS} <= set(init.tools)
        assert not any(t.startswith(("mcp__ghost__", "mcp__dead__")) for t in init.tools)
        offered = {tool["function"]["name"] for tool in model.requests[0]["tools"]}
        assert "mcp__calc__add" in offered
        result = [e for e in events if isinstance(e, ToolResult)]
        assert [(r.name, r.content, r.is_error) for r in result] == [
            ("mcp__calc__add", "42", False)
        ]
        assert tool_messages(model.requests[1])[0]["content"] == "42"
        assert isinstance(events[-1], RunResult) and events[-1].output == "it is 42"
        assert [s["status"] for s in agent.mcp_status()] == ["connected", "failed", "failed"]
        assert live_processes(good)
        await agent.aclose()
        await assert_gone(good, dead)
        assert manager.status("calc").status == "stopped"


@asynchronous
async def test_an_agent_leaves_running_the_servers_it_did_not_start(tmp_path):
    marker = unique("shared")
    model = ScriptedBackend(
        {"tool_calls": [{"name": "mcp__calc__add", "arguments": {"a": 1, "b": 2}}]},
        {"text": "3"},
    )
    with leftovers_killed(marker):
        async with MCPClientManager([stdio("calc", marker)], log_dir=tmp_path) as manager:
            agent = Agent(settings=settings(), backend=model, mcp=manager)
            result = await agent.run("add")
            assert result.output == "3"
            assert tool_messages(model.requests[1])[0]["content"] == "3"
            await agent.aclose()
            assert manager.status("calc").status == "connected"
            assert live_processes(marker)
            assert await call(manager, "calc", "add", a=2, b=2) == "4"
        await assert_gone(marker)


def test_an_agent_driven_by_run_sync_keeps_its_servers_between_turns(tmp_path):
    marker = unique("sync")
    model = ScriptedBackend(
        {"tool_calls": [{"name": "mcp__calc__add", "arguments": {"a": 40, "b": 2}}]},
        {"text": "42"},
        {"tool_calls": [{"name": "mcp__calc__add", "arguments": {"a": 1, "b": 1}}]},
        {"text": "2"},
    )
    with leftovers_killed(marker):
        manager = MCPClientManager([stdio("calc", marker)], log_dir=tmp_path)
        agent = Agent(settings=settings(), backend=model, mcp=manager)
        agent.run_sync("first")
        assert tool_messages(model.requests[1])[-1]["content"] == "42"
        agent.run_sync("second")
        assert tool_messages(model.requests[3])[-1]["content"] == "2"
        agent.close()
        assert wait_until(lambda: not live_processes(marker))


# -- 9. immagent's shape -----------------------------------------------------------------------
@asynchronous
async def test_mcp_manager_connect_in_immagents_shape(home, web_servers):
    marker = unique("immagent")
    with leftovers_killed(marker):
        async with MCPManager() as mcp:
            assert mcp.statuses() == []
            status = await mcp.connect(
                "x", command=sys.executable, args=[SERVER, "--name", marker], timeout=20
            )
            assert (status.name, status.transport, status.status, status.tools) == (
                "x",
                "stdio",
                "connected",
                9,
            )
            assert await call(mcp, "x", "add", a=7, b=8) == "15"
            web = await mcp.connect("w", url=web_servers["http"])
            assert (web.transport, web.status) == ("http", "connected")
            assert await call(mcp, "w", "add", a=1, b=2) == "3"
            with pytest.raises(AgentError, match="'x' is already connected"):
                await mcp.connect("x", command=sys.executable, args=[SERVER])
            # Without log_dir, stderr goes to $MAMBA_HOME/logs.
            assert f"starting {marker}" in (home / "data" / "logs" / "mcp-x.log").read_text()
        await assert_gone(marker)
    assert MCPManager is MCPClientManager


# -- 10. configuration -------------------------------------------------------------------------
def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@asynchronous
async def test_servers_from_a_toml_file_are_parsed_and_start(home, tmp_path):
    marker = unique("toml")
    config_file = write(
        tmp_path / "mamba.toml",
        f"""
[mcp.servers.calc]
command = {json.dumps(sys.executable)}
args = [{json.dumps(SERVER)}, "--name", "${{TAG}}"]
env = {{ GREETING = "${{GREETING:-salut}}" }}
timeout = 5
startup_timeout = 20
exclude_tools = ["crash", "sleep"]
mode = "legacy"

[mcp.servers.remote]
url = "https://example.invalid/mcp"
headers = {{ Authorization = "Bearer ${{REMOTE_TOKEN}}" }}
include_tools = ["search*"]
enabled = false
""",
    )
    settings = AgentSettings(config_file=config_file, environ={}, cwd=home / "work")
    servers = settings.mcp_servers
    assert list(servers) == ["calc", "remote"]
    calc, remote = servers["calc"], servers["remote"]
    assert (calc.transport, calc.command, calc.args) == (
        "stdio",
        sys.executable,
        [SERVER, "--name", "${TAG}"],
    )
    assert (calc.timeout, calc.startup_timeout, calc.mode) == (5.0, 20.0, "legacy")
    assert calc.env == {"GREETING": "${GREETING:-salut}"}
    assert calc.exclude_tools == ["crash", "sleep"]
    assert calc.source == str(config_file) and calc.project is False
    assert (remote.transport, remote.url, remote.enabled) == (
        "http",
        "https://example.invalid/mcp",
        False,
    )
    assert remote.headers == {"Authorization": "Bearer ${REMOTE_TOKEN}"}
    assert remote.include_tools == ["search*"]
    with leftovers_killed(marker):
        async with MCPClientManager(servers, environ={"TAG": marker}, log_dir=tmp_path) as m:
            assert [(s.name, s.status) for s in m.statuses()] == [
                ("calc", "connected"),
                ("remote", "disabled"),
            ]
            assert live_processes(marker)
            assert set(tools_of(m)) == {f"mcp__calc__{t}" for t in ALL_TOOLS - {"crash", "sleep"}}
            assert await call(m, "calc", "env", variable="GREETING") == "salut"
        await assert_gone(marker)


def test_a_server_saved_by_mamba_mcp_add_is_in_the_settings(home):
    saved = MCPServerConfig("saved", command="some-server", args=["--flag"], timeout=12)
    path = save_server(saved)
    assert path == home / "config" / "mamba" / "mcp-servers.toml"
    found = AgentSettings(environ={}).mcp_servers["saved"]
    assert (found.command, found.args, found.timeout) == ("some-server", ["--flag"], 12.0)
    assert found.source == str(path)
    with pytest.raises(ConfigError, match="already exists"):
        save_server(saved)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('command = "srv"\ncomand = "typo"', "mcp.servers.bad.comand: unknown key"),
        ('command = "srv"\ntransport = "websocket"', "mcp.servers.bad.transport: must be one of"),
        ('url = "ftp://example.invalid"', "mcp.servers.bad.url: an http server needs an http(s)"),
        ('command = "srv"\ntimeout = "soon"', "mcp.servers.bad.timeout: expected a number"),
        ('command = "srv"\nstartup_timeout = 0', "startup_timeout: must be a number above zero"),
        ('command = "srv"\nmode = "fast"', "mcp.servers.bad.mode: must be auto or legacy"),
    ],
)
def test_a_bad_server_table_is_an_error_naming_the_file_and_key(home, tmp_path, table, expected):
    config_file = write(tmp_path / "bad.toml", f"[mcp.servers.bad]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        AgentSettings(config_file=config_file, environ={}, cwd=home / "work")
    assert str(config_file) in str(caught.value)
    assert expected in str(caught.value)


def test_the_mcp_json_shape(home):
    folder = home / "work"
    write(
        folder / ".mcp.json",
        json.dumps(
            {
                "mcpServers": {
                    "files": {
                        "command": "npx",
                        "args": ["-y", "@modelcontextprotocol/server-filesystem", "."],
                        "env": {"DEBUG": "1"},
                        "alwaysAllow": ["read_file"],  # another tool's key: ignored
                    },
                    "remote": {
                        "type": "http",
                        "url": "https://mcp.example.invalid/mcp",
                        "headers": {"Authorization": "Bearer ${REMOTE_TOKEN}"},
                    },
                    "events": {"type": "sse", "url": "http://127.0.0.1:9/sse"},
                    "modern": {"type": "streamable-http", "url": "http://127.0.0.1:9/mcp"},
                }
            }
        ),
    )
    servers = AgentSettings(environ={}, cwd=folder, trust_project=False).mcp_servers
    assert list(servers) == ["files", "remote", "events", "modern"]
    files, remote = servers["files"], servers["remote"]
    assert (files.transport, files.command, files.args, files.env) == (
        "stdio",
        "npx",
        ["-y", "@modelcontextprotocol/server-filesystem", "."],
        {"DEBUG": "1"},
    )
    assert (remote.transport, remote.url) == ("http", "https://mcp.example.invalid/mcp")
    assert remote.headers == {"Authorization": "Bearer ${REMOTE_TOKEN}"}
    assert servers["events"].transport == "sse" and servers["modern"].transport == "http"
    # An untrusted folder's servers are marked as the project's (they start once approved).
    assert all(s.project for s in servers.values())
    assert all(s.source == str(folder / ".mcp.json") for s in servers.values())
    trusted = AgentSettings(environ={}, cwd=folder, trust_project=True).mcp_servers
    assert not any(s.project for s in trusted.values())
    assert read_mcp_json(folder / ".mcp.json")["remote"] == remote


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"type": "websocket", "url": "ws://x"}, "mcpServers.bad.type: must be stdio, http or sse"),
        ({"type": "http"}, "mcp.servers.bad.url: an http server needs an http(s) URL"),
        ({"command": ["not", "a", "string"]}, "mcp.servers.bad.command: expected a string"),
    ],
)
def test_a_bad_mcp_json_entry_is_an_error_naming_the_file(home, entry, expected):
    path = write(home / "work" / ".mcp.json", json.dumps({"mcpServers": {"bad": entry}}))
    with pytest.raises(ConfigError) as caught:
        read_mcp_json(path)
    assert str(path) in str(caught.value) and expected in str(caught.value)
    with pytest.raises(ConfigError) as again:  # the settings read ./.mcp.json the same way
        AgentSettings(environ={}, cwd=home / "work")
    assert str(again.value) == str(caught.value)


@asynchronous
async def test_an_mcp_call_is_a_span_inside_its_tool_call(tmp_path):
    from mamba_agents.observability import RequestTracer

    marker = unique("traced")
    manager = MCPClientManager([stdio("calc", marker)], log_dir=tmp_path)
    model = ScriptedBackend(
        {"tool_calls": [{"name": "mcp__calc__add", "arguments": {"a": 1, "b": 2}}]},
        {"tool_calls": [{"name": "mcp__calc__fail", "arguments": {}}]},
        {"text": "done"},
    )
    with leftovers_killed(marker):
        agent = Agent(settings=settings(), backend=model, mcp=manager)
        tracer = RequestTracer()
        tracer.start_trace()
        await agent.run("add, then fail")
        trace = tracer.end_trace()
        await agent.aclose()
    add, fail = trace.find("tools/call")
    assert [s.name for s in (add, fail)] == ["tools/call add", "tools/call fail"]
    for call, tool in ((add, "mcp__calc__add"), (fail, "mcp__calc__fail")):
        parent = next(s for s in trace.spans if s.span_id == call.parent_id)
        assert parent.name == f"execute_tool {tool}" and call.kind == "client"
        assert call.attributes["mcp.method.name"] == "tools/call"
        assert call.attributes["mamba.mcp.server"] == "calc"
        assert call.attributes["network.transport"] == "pipe"
    assert add.status == "ok" and fail.status == "error"
    assert fail.attributes["error.type"] == "ToolExecutionError"
