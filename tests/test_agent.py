"""The Agent and its loop against a scripted in-process model (the engine's own logic: the
tool loop, limits, usage, cost, timeouts); each seed pitfall has a test here. The transports
and the HTTP path end to end are tested against the scripted server in test_backends.py and
test_backend_hostile.py."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from scripted_backend import ScriptedBackend

from mamba_agents import Agent, AgentSettings
from mamba_agents.engine import AgentConfig
from mamba_agents.errors import BudgetExceededError, MaxTurnsError, ModelBackendError
from mamba_agents.events import RunResult, TextDelta, ToolCallStarted, ToolResult
from mamba_agents.store import SessionStore


@pytest.fixture
def model() -> ScriptedBackend:
    """The model the agents of a test talk to; `model.requests` are what they sent."""
    return ScriptedBackend()


def settings_for(**agent):
    return AgentSettings(
        environ={},
        load=False,
        overrides={
            "model_backend": {"model": "openai/gpt-4o"},
            "retry": {"base_wait": 0.01},
            "agent": agent,
        },
    )


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first.
        b: The second.
    """
    return a + b


def broken(path: str) -> str:
    """Always fails."""
    raise FileNotFoundError(f"no such file: {path}")


def test_system_prompt_is_sent_on_every_request(model):
    model.add(
        {"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]},
        {"text": "3"},
        {"text": "again"},
    )
    agent = Agent(settings=settings_for(), backend=model, tools=[add], system_prompt="SYSTEM RULES")
    agent.run_sync("first")
    agent.run_sync("second")
    assert len(model.requests) == 3
    for body in model.requests:
        assert body["messages"][0] == {"role": "system", "content": "SYSTEM RULES"}
        assert sum(m["role"] == "system" for m in body["messages"]) == 1


def test_a_turn_adds_only_its_own_messages(model):
    agent = Agent(settings=settings_for(), backend=model)

    async def two_streamed_turns():
        for prompt in ("one", "two"):
            async for _ in agent.run_stream(prompt):
                pass

    asyncio.run(two_streamed_turns())
    roles = [m.role for m in agent.get_messages()]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert [m["content"] for m in model.requests[1]["messages"]] == ["one", "You said: one", "two"]
    assert len(agent.session.messages) == 4


def test_a_failing_tool_becomes_a_tool_result(model):
    model.add(
        {"tool_calls": [{"id": "c1", "name": "broken", "arguments": {"path": "x.txt"}}]},
        {"text": "sorry"},
    )
    agent = Agent(settings=settings_for(), backend=model, tools=[broken])
    result = agent.run_sync("read x.txt")
    assert result.output == "sorry"
    tool_message = model.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "c1"
    assert "FileNotFoundError: no such file: x.txt" in tool_message["content"]
    # The next turn is accepted: no tool call is left without a result.
    agent.run_sync("ok")
    calls = {c["id"] for m in model.requests[2]["messages"] for c in m.get("tool_calls", [])}
    results = {m["tool_call_id"] for m in model.requests[2]["messages"] if m["role"] == "tool"}
    assert calls == results == {"c1"}


def test_unknown_tool_and_bad_arguments_become_errors(model):
    model.add(
        {
            "tool_calls": [
                {"id": "a", "name": "nope", "arguments": {}},
                {"id": "b", "name": "add", "arguments": "{not json"},
                {"id": "c", "name": "add", "arguments": {"a": 1}},
            ]
        },
        {"text": "done"},
    )
    agent = Agent(settings=settings_for(), backend=model, tools=[add])
    agent.run_sync("go")
    results = {
        m["tool_call_id"]: m["content"]
        for m in model.requests[1]["messages"]
        if m["role"] == "tool"
    }
    assert results["a"].startswith("Error: unknown tool 'nope'")
    assert results["b"].startswith("Error: invalid arguments for add")
    assert results["c"].startswith("Error: invalid arguments for add")


def test_request_count_counts_model_requests(model):
    model.add({"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 1}}]}, {"text": "2"})
    agent = Agent(settings=settings_for(), backend=model, tools=[add])
    agent.run_sync("one run, two requests")
    assert agent.get_usage().request_count == 2
    assert len(agent.get_usage_history()) == 2
    agent.reset_tracking()
    assert agent.get_usage().request_count == 0 and agent.get_cost() == 0


def test_run_sync_inside_a_running_event_loop(model):
    agent = Agent(settings=settings_for(), backend=model)

    async def caller():
        return agent.run_sync("from inside a loop")

    assert asyncio.run(caller()).output == "You said: from inside a loop"


def test_tools_run_concurrently(model):
    barrier = threading.Barrier(2, timeout=5)

    def meet(name: str) -> str:
        """Waits for the other call."""
        barrier.wait()
        return name

    model.add(
        {
            "tool_calls": [
                {"id": "1", "name": "meet", "arguments": {"name": "a"}},
                {"id": "2", "name": "meet", "arguments": {"name": "b"}},
            ]
        },
        {"text": "met"},
    )
    agent = Agent(settings=settings_for(), backend=model, tools=[meet])
    assert agent.run_sync("meet").output == "met"
    tool_results = [m["content"] for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_results == ["a", "b"]


def test_async_tools_and_events(model):
    async def shout(text: str) -> str:
        """Upper-case the text."""
        await asyncio.sleep(0)
        return text.upper()

    model.add(
        {"tool_calls": [{"name": "shout", "arguments": {"text": "hey"}}]},
        {"text": "HEY it is", "chunks": 2},
    )
    agent = Agent(settings=settings_for(), backend=model, tools=[shout])

    async def collect():
        return [e async for e in agent.run_stream("shout")]

    events = asyncio.run(collect())
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("ToolCallStarted") < kinds.index("ToolResult") < kinds.index("TextDelta")
    assert next(e for e in events if isinstance(e, ToolResult)).content == "HEY"
    assert next(e for e in events if isinstance(e, ToolCallStarted)).name == "shout"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "HEY it is"
    assert isinstance(events[-1], RunResult) and events[-1].success


def test_max_turns_stops_and_keeps_pairs_whole(model):
    model.add(*[{"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 1}}]}] * 5)
    agent = Agent(settings=settings_for(), backend=model, tools=[add])
    with pytest.raises(MaxTurnsError):
        agent.run_sync("loop", max_turns=2)
    assert len(model.requests) == 2
    messages = agent.get_messages()
    assert [m.role for m in messages] == ["user", "assistant", "tool", "assistant", "tool"]
    assert "not run" in messages[-1].text
    assert agent.session.state().status == "max_turns"


def test_max_cost_stops_before_the_next_request(model):
    model.add(
        *[
            {
                "tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 1}}],
                "usage": {"prompt_tokens": 2000, "completion_tokens": 10},
            }
        ]
        * 5
    )
    agent = Agent(settings=settings_for(), backend=model, tools=[add])
    with pytest.raises(BudgetExceededError):
        agent.run_sync("spend", max_cost=0.009)
    # 2000 input tokens of gpt-4o cost $0.005 + output: the second request crosses $0.009.
    assert len(model.requests) == 2


def test_timeout_from_settings(model):
    model.add({"hang": True})
    agent = Agent(settings=settings_for(timeout=0.3), backend=model)
    started = time.monotonic()

    async def go():
        return [e async for e in agent.run_stream("x")][-1]

    result = asyncio.run(go())
    assert result.status == "timeout" and time.monotonic() - started < 2


def test_failed_run_leaves_the_session_untouched(model):
    model.add({"text": "first"}, {"status": 400, "message": "nope"})
    agent = Agent(settings=settings_for(), backend=model)
    agent.run_sync("one")
    head, count = agent.session.head, len(agent.session.messages)
    with pytest.raises(ModelBackendError, match="nope"):
        agent.run_sync("two")
    assert agent.session.head == head and len(agent.session.messages) == count


def test_store_saves_each_run_and_resumes(model, tmp_path):
    store = SessionStore(tmp_path)
    agent = Agent(settings=settings_for(), backend=model, store=store, system_prompt="S")
    agent.run_sync("remember 7")
    loaded = store.load(agent.session.id)
    resumed = Agent(settings=settings_for(), backend=model, store=store, session=loaded)
    assert resumed.system_prompt == "S"
    resumed.run_sync("what number?")
    assert [m["content"] for m in model.requests[1]["messages"]] == [
        "S",
        "remember 7",
        "You said: remember 7",
        "what number?",
    ]
    assert len(store.load(agent.session.id).states) == 2


def test_costs_and_context_state(model):
    model.add({"text": "x", "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}})
    agent = Agent(settings=settings_for(system_prompt="sys"), backend=model)
    agent.run_sync("price me")
    # gpt-4o: $2.50 per million input tokens, $10 per million output tokens.
    assert agent.get_cost() == pytest.approx(12.5)
    breakdown = agent.get_cost_breakdown()
    assert breakdown.prompt_cost == pytest.approx(2.5)
    assert breakdown.completion_cost == pytest.approx(10.0)
    state = agent.get_context_state()
    assert state.source == "reported" and state.token_count == 2_000_000
    assert state.context_window == 128000 and state.message_count == 2
    assert agent.get_token_count("hello world") == 2
    agent.clear_context()
    assert agent.get_messages() == []
    assert agent.get_context_state().source == "estimated"


def test_unknown_model_keeps_its_tools_and_is_unpriced(model):
    model.add({"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 2}}]}, {"text": "4"})
    agent = Agent(
        "openai/my-local-finetune-xyz", settings=settings_for(), backend=model, tools=[add]
    )
    result = agent.run_sync("add")
    assert model.requests[0]["tools"][0]["function"]["name"] == "add"
    assert result.cost_source == "unpriced" and result.cost_usd == 0
    assert agent.get_context_state().context_window == 8192


def test_missing_usage_is_counted_locally_and_marked_estimated(model):
    model.add({"text": "no usage here", "usage": None})
    agent = Agent(settings=settings_for(), backend=model)
    result = agent.run_sync("count me")
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.cost_source == "estimated"


def test_track_context_false_forgets_between_runs(model):
    agent = Agent(settings=settings_for(), backend=model, config=AgentConfig(track_context=False))
    agent.run_sync("one")
    agent.run_sync("two")
    assert [m["content"] for m in model.requests[1]["messages"]] == ["two"]


def test_duplicate_tool_names_are_refused(model):
    from mamba_agents.errors import AgentError

    with pytest.raises(AgentError, match="two tools are named 'add'"):
        Agent(settings=settings_for(), backend=model, tools=[add, add])


def test_tool_timeout_from_settings(model):
    release = threading.Event()

    def sleepy() -> str:
        """Sleeps."""
        release.wait(30)
        return "late"

    model.add({"tool_calls": [{"name": "sleepy", "arguments": {}}]}, {"text": "ok"})
    agent = Agent(settings=settings_for(tool_timeout=0.2), backend=model, tools=[sleepy])

    async def go():
        # The thread of a timed-out tool runs on; let it end once its result is in.
        async for event in agent.run_stream("sleep"):
            if isinstance(event, ToolResult):
                release.set()

    asyncio.run(go())
    assert release.is_set()
    assert "timed out after 0.2 s" in model.requests[1]["messages"][-1]["content"]
