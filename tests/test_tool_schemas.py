"""Runtime-owned parameters (the sandbox, limits, the cancel event) never reach a tool's schema
and a model can never set them, however the tool was given: built-ins bound by the runtime,
the built-in functions passed as they are, `tool_from_function`, or a hand-made `Tool`."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from pathlib import Path

import pytest

from mamba_agents import Agent, AgentSettings
from mamba_agents.tools import (
    BUILTIN,
    RUNTIME_PARAMETERS,
    FilesystemSecurity,
    PermissionPolicy,
    Tool,
    as_tool,
    builtin_tools,
    grep_search,
    read_file,
    run_bash,
    tool_from_function,
    write_file,
)


def settings_for(server) -> AgentSettings:
    return AgentSettings(
        environ={},
        load=False,
        overrides={
            "model_backend": {"model": "openai/gpt-4o", "base_url": server.base_url},
            "retry": {"base_wait": 0.01},
        },
    )


def schema_names(tool: Tool) -> set[str]:
    return set(tool.parameters["properties"]) | set(tool.parameters.get("required", ()))


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding notes.txt, beside a secret outside it."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "notes.txt").write_text("the notes\n")
    (tmp_path / "secret.txt").write_text("TOP SECRET\n")
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_no_built_in_schema_shows_a_runtime_parameter_however_it_is_made(name, work):
    function, risk = BUILTIN[name]
    bound = builtin_tools(names=[name], bash_timeout=10, output_limit=1000)[0]
    for tool in (bound, tool_from_function(function), as_tool(function)):
        assert not schema_names(tool) & RUNTIME_PARAMETERS, (tool.name, tool.parameters)
    # The function passed as it is is that built-in: same name, schema and risk class.
    given = as_tool(function)
    assert (given.name, given.risk) == (name, risk)
    assert given.parameters == tool_from_function(function).parameters


def test_built_in_functions_passed_as_they_are_keep_their_risk_class(work):
    assert as_tool(read_file).risk == "read"
    assert as_tool(grep_search).risk == "read"
    assert as_tool(write_file).risk == "write"
    assert as_tool(run_bash).risk == "execute"
    # A function of one's own stays `execute`: its risk is unknown.
    assert as_tool(lambda: None).risk == "execute"
    # Only the very function counts, not one that shares its name.
    assert tool_from_function(read_file).risk == "execute"


def test_a_built_in_passed_as_it_is_is_sandboxed_to_the_current_directory(work):
    tool = as_tool(read_file)
    assert asyncio.run(tool.invoke({"path": "notes.txt"})) == "the notes\n"
    with pytest.raises(Exception, match="outside"):
        asyncio.run(tool.invoke({"path": "../secret.txt"}))


def test_user_functions_lose_their_runtime_parameters_from_the_schema():
    def deploy(
        target: str,
        security: object = None,
        cancel: threading.Event | None = None,
        output_limit: int = 10,
        max_timeout: float | None = None,
    ) -> str:
        """Deploy.

        Args:
            target: Where to.
            security: The runtime's sandbox.
        """
        return target

    async def fetch(url: str, cancel: object = None) -> str:
        """Fetch a page."""
        return url

    assert tool_from_function(deploy).parameters == {
        "type": "object",
        "properties": {"target": {"type": "string", "description": "Where to."}},
        "required": ["target"],
    }
    assert set(tool_from_function(fetch).parameters["properties"]) == {"url"}
    # `hidden` adds to the runtime's own names, it does not replace them.
    assert (
        set(tool_from_function(deploy, hidden=frozenset({"target"})).parameters["properties"])
        == set()
    )


@pytest.mark.parametrize(
    ("function", "arguments"),
    [
        (read_file, {"path": "notes.txt", "security": None}),
        (read_file, {"path": "notes.txt", "security": "/"}),
        (grep_search, {"pattern": "x", "cancel": True}),
        (run_bash, {"command": "echo hi", "cancel": None}),
        (run_bash, {"command": "echo hi", "output_limit": 10**9}),
        (run_bash, {"command": "echo hi", "max_timeout": 10**9}),
    ],
)
def test_a_runtime_parameter_sent_by_the_model_is_an_unexpected_argument(function, arguments, work):
    (sent,) = set(arguments) & RUNTIME_PARAMETERS
    for tool in (
        as_tool(function),
        tool_from_function(function),
        builtin_tools(names=[function.__name__])[0],
    ):
        with pytest.raises(TypeError, match=rf"^unexpected argument\(s\): {sent}$"):
            asyncio.run(tool.invoke(arguments))


def test_a_hand_made_schema_that_lists_the_sandbox_cannot_let_the_model_move_it(work):
    sandbox = FilesystemSecurity(work)
    tool = Tool(
        "read_file",
        "Read a file.",
        {
            "type": "object",
            "properties": {"path": {"type": "string"}, "security": {"type": "object"}},
        },
        functools.partial(read_file, security=sandbox),
        "read",
    )
    with pytest.raises(TypeError, match="unexpected argument"):
        asyncio.run(tool.invoke({"path": "../secret.txt", "security": None}))
    # A function that takes no such parameter may still be offered one by its schema.
    echo = Tool(
        "echo",
        "Echo.",
        {"type": "object", "properties": {"security": {"type": "string"}}},
        lambda **kwargs: json.dumps(kwargs),
    )
    assert asyncio.run(echo.invoke({"security": "high"})) == '{"security": "high"}'


def tool_result(server) -> str:
    """What the last tool call returned, as the model read it."""
    last = server.requests[-1]["messages"][-1]
    assert last["role"] == "tool"
    return last["content"]


def test_an_agent_given_the_built_in_functions_never_offers_or_accepts_runtime_parameters(
    server, work
):
    agent = Agent(settings=settings_for(server), tools=[read_file, run_bash, grep_search])
    assert {n: t.risk for n, t in agent.tools.items()} == {
        "read_file": "read",
        "run_bash": "execute",
        "grep_search": "read",
    }
    agent.run_sync('CALL read_file {"path": "notes.txt"}')
    offered = server.requests[0]["tools"]
    assert {t["function"]["name"] for t in offered} == {"read_file", "run_bash", "grep_search"}
    for entry in offered:
        properties = entry["function"]["parameters"]["properties"]
        assert not set(properties) & RUNTIME_PARAMETERS, entry
    assert tool_result(server) == "the notes\n"

    agent.run_sync('CALL read_file {"path": "../secret.txt", "security": null}')
    refusal = tool_result(server)
    assert "unexpected argument(s): security" in refusal
    assert "AttributeError" not in refusal and "TOP SECRET" not in refusal

    agent.run_sync('CALL run_bash {"command": "echo ran", "cancel": true}')
    refusal = tool_result(server)
    assert "unexpected argument(s): cancel" in refusal and "exit code" not in refusal

    agent.run_sync('CALL run_bash {"command": "echo ran"}')
    assert tool_result(server) == "exit code 0\n--- stdout ---\nran"


def test_permission_defaults_go_by_the_built_in_risk_class_of_a_passed_function(server, work):
    agent = Agent(
        settings=settings_for(server),
        tools=[read_file, write_file],
        permissions=PermissionPolicy(),
    )
    agent.run_sync('CALL read_file {"path": "notes.txt"}')
    assert tool_result(server) == "the notes\n"
    agent.run_sync('CALL write_file {"path": "new.txt", "content": "x"}')
    refusal = tool_result(server)
    assert refusal.startswith("Error: permission needed for write_file")
    assert not (work / "new.txt").exists()
