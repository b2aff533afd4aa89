"""Stepping through a run (`Agent.iter`), live retries, stop reasons, typed events and the
one usage type, against the scripted server."""

from __future__ import annotations

import asyncio
import json

import pytest

from mamba_agents import Agent, AgentSettings
from mamba_agents.engine import ModelStep, ToolStep
from mamba_agents.errors import AgentError, ConfigError, ModelBackendError
from mamba_agents.events import (
    ErrorEvent,
    InitEvent,
    RetryEvent,
    RunResult,
    ToolResult,
    event_from_dict,
    parse_event,
)
from mamba_agents.messages import Message, Usage
from mamba_agents.store import SessionStore
from mamba_agents.tokens import TokenUsage, UsageTracker


def settings_for(server, **retry):
    return AgentSettings(
        environ={},
        load=False,
        overrides={
            "model_backend": {"model": "openai/gpt-4o", "base_url": server.base_url},
            "retry": {"base_wait": 0.01, **retry},
        },
    )


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def steps_of(agent: Agent, prompt: str, stop_after: int | None = None):
    steps = []
    async with agent.iter(prompt) as run:
        async for step in run:
            steps.append(step)
            if stop_after is not None and len(steps) == stop_after:
                break
    return run, steps


def test_a_run_steps_through_model_request_tools_and_answer(server, tmp_path):
    server.add({"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}, {"text": "5"})
    store = SessionStore(tmp_path)
    agent = Agent(settings=settings_for(server), tools=[add], store=store)
    run, steps = asyncio.run(steps_of(agent, "add 2 and 3"))
    assert [type(s) for s in steps] == [ModelStep, ToolStep, ModelStep]
    assert steps[0].stop_reason == "tool_use" and steps[0].message.tool_calls[0].name == "add"
    assert [m.content for m in steps[1].results] == ["5"]
    assert steps[2].message.text == "5" and steps[2].stop_reason == "end_turn"
    assert run.status == "success" and run.num_turns == 2
    assert run.final.status == "success" and run.final.output == "5"
    assert run.final.state_id == store.load(agent.session.id).head
    roles = [m.role for m in store.load(agent.session.id).context()]
    assert roles == ["user", "assistant", "tool", "assistant"]


def test_stopping_between_steps_keeps_complete_pairs(server, tmp_path):
    server.add({"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 1}}]})
    store = SessionStore(tmp_path)
    agent = Agent(settings=settings_for(server), tools=[add], store=store)
    run, steps = asyncio.run(steps_of(agent, "add", stop_after=1))
    assert [type(s) for s in steps] == [ModelStep]
    assert run.final.status == "interrupted"
    saved = store.load(agent.session.id).context()
    assert [m.role for m in saved] == ["user", "assistant", "tool"]
    assert saved[2].content == "Error: the run was stopped"
    assert len(server.requests) == 1


def test_the_caller_can_change_the_context_between_steps(server):
    server.add({"text": "first"}, {"text": "second"})
    agent = Agent(settings=settings_for(server))
    agent.run_sync("an old question")

    async def forget_history():
        async with agent.iter("a new question") as run:
            assert [m.text for m in run.messages][-1] == "a new question"
            run.history = []  # what a compaction would do
            async for _ in run:
                pass
        return run

    run = asyncio.run(forget_history())
    sent = [m["content"] for m in server.requests[1]["messages"]]
    assert sent == ["a new question"]
    assert run.final.output == "second"


def test_each_retry_is_an_event_before_its_wait(server):
    server.add({"status": 500}, {"status": 500}, {"text": "fine"})
    agent = Agent(settings=settings_for(server, base_wait=0.2))
    seen = []

    async def collect():
        async for event in agent.run_stream("hi"):
            if isinstance(event, RetryEvent):
                # The retry is announced while the wait is still ahead of it.
                seen.append((event.attempt, len(server.requests)))
            last = event
        return last

    result = asyncio.run(collect())
    assert seen == [(1, 1), (2, 2)]
    assert result.status == "success" and result.output == "fine"


def test_when_retries_run_out_the_error_says_how_many_attempts(server):
    server.add(*[{"status": 500}] * 3)
    agent = Agent(settings=settings_for(server, max_retries=2))
    with pytest.raises(ModelBackendError, match=r"\(gave up after 3 attempts\)$"):
        agent.run_sync("hi")
    assert len(server.requests) == 3


def test_an_answer_cut_at_the_token_limit_says_so(server):
    server.add({"text": "the beginning of a long", "finish_reason": "length"})
    result = Agent(settings=settings_for(server)).run_sync("write a lot")
    assert result.status == "success" and result.stop_reason == "max_tokens"
    assert result.to_dict()["stop_reason"] == "max_tokens"


def test_the_engine_emits_init_first_and_the_result_last(server, tmp_path):
    server.add({"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]}, {"text": "3"})
    agent = Agent(settings=settings_for(server), tools=[add], store=SessionStore(tmp_path))

    async def collect():
        return [event async for event in agent.run_stream("add")]

    events = asyncio.run(collect())
    assert isinstance(events[0], InitEvent)
    assert events[0].session_id == agent.session.id and events[0].tools == ["add"]
    assert isinstance(events[-1], RunResult) and events[-1].session_id == agent.session.id
    assert sum(isinstance(e, RunResult) for e in events) == 1
    for event in events:
        line = json.loads(json.dumps(event.to_dict()))
        again = event_from_dict(line)
        assert type(again) is type(event) and again.to_dict() == event.to_dict()
        if not isinstance(event, RunResult):
            assert again == event
    results = [e for e in events if isinstance(e, ToolResult)]
    assert results[0].content == "3"


def test_stream_json_lines_parse_back_into_typed_events(mamba, server):
    server.add({"tool_calls": [{"name": "add_nothing", "arguments": {}}]}, {"text": "done"})
    result = mamba("run", "go", "-o", "stream-json", "--no-tools")
    assert result.code == 0, result.stderr
    events = [parse_event(line) for line in result.stdout.splitlines()]
    assert events[0].type == "init" and events[-1].type == "result"
    assert [e.type for e in events].count("init") == 1
    assert events[-1].output == "done" and events[-1].status == "success"
    for line, event in zip(result.stdout.splitlines(), events, strict=True):
        assert event.to_dict() == json.loads(line)


def test_the_lines_of_a_failed_run_parse_back_too(mamba, server):
    """An `error` line's `message` is its text, not a message record (it used to raise
    AttributeError, so a reader of a failed run's stream crashed)."""
    server.add({"status": 401})
    result = mamba("run", "go", "-o", "stream-json", "--no-tools")
    assert result.code == 1, result.stderr
    events = [parse_event(line) for line in result.stdout.splitlines()]
    assert [e.type for e in events] == ["init", "error", "result"]
    assert events[1] == ErrorEvent(kind="AuthenticationError", message=events[1].message)
    assert "injected HTTP 401" in events[1].message and events[-1].status == "error"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"type": "bogus"}, "not a mamba event: type 'bogus'"),
        ({"type": ["text_delta"]}, "not a mamba event: type \\['text_delta'\\]"),
        ([1, 2], "not a mamba event: type \\[1, 2\\]"),
        ({"type": "text_delta"}, "text_delta event: missing field 'text'"),
        ({"type": "text_delta", "text": 5}, "text_delta event: 'text' must be str, got 5"),
        (
            {"type": "usage", "model": "m", "usage": "x", "cost_usd": 0, "cost_source": "e"},
            "usage event: 'usage' must be dict",
        ),
        ({"type": "assistant_message", "message": {"role": "x"}}, "'message': invalid message"),
        (
            {
                "type": "tool_result",
                "call_id": "c",
                "name": "n",
                "content": "",
                "is_error": "no",
                "duration_ms": 0,
            },
            "'is_error' must be bool",
        ),
        ({"type": "result", "status": "success"}, "result event: missing field 'result'"),
    ],
)
def test_a_line_that_is_no_event_is_a_clear_error(line, message):
    with pytest.raises(ValueError, match=message):
        event_from_dict(line)


def test_a_line_that_is_no_json_is_a_clear_error():
    with pytest.raises(ValueError, match="not a JSON line"):
        parse_event("{")


def test_one_usage_type_with_one_meaning_of_total():
    usage = Usage(input_tokens=100, output_tokens=20, cache_read_tokens=900, cache_write_tokens=5)
    assert usage.prompt_tokens == 1005 and usage.total_tokens == 1025
    view = TokenUsage(usage + usage, request_count=2)
    assert view.prompt_tokens == 2010 and view.completion_tokens == 40
    assert view.total_tokens == 2050 and view.request_count == 2
    assert "request_count=2" in repr(view)


def test_the_tracker_prices_what_it_records():
    tracker = UsageTracker()
    record = tracker.record_usage(input_tokens=1_000_000, output_tokens=0, model="gpt-4o")
    assert record.cost_source == "estimated" and record.cost_usd == pytest.approx(2.5)
    summary = tracker.get_summary()
    assert summary.cost_usd == pytest.approx(2.5) and summary.cost_source == "estimated"
    tracker.record_usage(input_tokens=10, model="nobody/knows-this-model")
    assert tracker.get_summary().cost_source == "unpriced"


def test_session_usage_sums_every_request_of_the_file(server):
    server.add({"text": "a", "usage": {"prompt_tokens": 10, "completion_tokens": 2}})
    server.add({"text": "b", "usage": {"prompt_tokens": 20, "completion_tokens": 3}})
    agent = Agent(settings=settings_for(server))
    agent.run_sync("one")
    agent.run_sync("two")
    summary = agent.session_usage()
    assert summary.total.request_count == 2 and summary.total.prompt_tokens == 30
    assert agent.get_usage().completion_tokens == 5
    assert summary.cost_usd == pytest.approx(agent.get_cost())


def test_a_message_round_trips_through_its_event():
    message = Message(role="assistant", content="hi", usage=Usage(1, 2), cost_usd=0.5)
    again = event_from_dict({"type": "assistant_message", "message": message.to_record()})
    assert again.message == message


def test_an_unknown_setting_given_in_code_is_a_config_error():
    with pytest.raises(ConfigError, match=r"retry\.model_retries: unknown setting"):
        AgentSettings(environ={}, load=False, overrides={"retry": {"model_retries": 2}})


def test_one_turn_at_a_time_per_agent(server):
    server.add({"text": "outer"})
    agent = Agent(settings=settings_for(server))

    async def nested():
        async with agent.iter("outer") as run:
            with pytest.raises(AgentError, match="already running a turn"):
                async with agent.iter("inner"):
                    pass
            async for _ in run:
                pass
        return run

    assert asyncio.run(nested()).final.output == "outer"
    assert agent.run_sync("after").output == "You said: after"
    assert [m.text for m in agent.get_messages()] == [
        "outer",
        "outer",
        "after",
        "You said: after",
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"max_turns": 0}, "max_turns: must be at least 1, got 0"),
        ({"max_cost": -1}, "max_cost: must not be negative, got -1"),
        ({"timeout": 0}, "timeout: must be above zero, got 0"),
    ],
)
def test_limits_out_of_range_are_refused_before_any_request(server, arguments, message):
    agent = Agent(settings=settings_for(server))
    with pytest.raises(ConfigError, match=message):
        agent.run_sync("hi", **arguments)
    with pytest.raises(ConfigError, match="prompt: expected text"):
        agent.run_sync(None)
    assert server.requests == []


def test_a_request_cut_short_is_counted_and_priced_locally(server):
    server.add({"endless": 0.01})
    agent = Agent(settings=settings_for(server))
    events = []

    async def stop_after_some_text():
        async for event in agent.run_stream("go on forever", timeout=60):
            events.append(event)
            if sum(e.type == "text_delta" for e in events) == 5:
                agent.interrupt()
        return events[-1]

    result = asyncio.run(stop_after_some_text())
    assert result.status == "interrupted" and result.num_turns == 1
    assert result.usage.output_tokens > 0 and result.usage.input_tokens > 0
    assert result.cost_usd > 0 and result.cost_source == "estimated"
    [kept] = [m for m in agent.get_messages() if m.role == "assistant"]
    assert kept.status == "interrupted" and kept.usage == result.usage
    assert agent.session_usage().total.request_count == 1


def test_every_announced_tool_call_gets_its_result_event(server):
    server.add({"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 1}}]})
    agent = Agent(settings=settings_for(server), tools=[add])

    async def collect():
        return [e async for e in agent.run_stream("add", max_turns=1)]

    events = asyncio.run(collect())
    calls = [e.call_id for e in events if e.type == "tool_call"]
    results = [e for e in events if e.type == "tool_result"]
    assert calls and calls == [r.call_id for r in results]
    assert results[0].content == "Error: not run: the run stopped (max_turns reached)"
    assert events[-1].status == "max_turns"


def test_a_failed_first_run_names_no_session(server, tmp_path):
    server.add({"status": 401})
    agent = Agent(settings=settings_for(server), store=SessionStore(tmp_path))

    async def collect():
        return [e async for e in agent.run_stream("hi")]

    result = asyncio.run(collect())[-1]
    assert result.status == "error"
    assert result.session_id is None and result.state_id is None
    assert list(tmp_path.glob("*.json")) == []
