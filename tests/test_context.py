"""Context compaction: the `[context]` settings, `ContextManager` and the five strategies.

The summarising and scoring strategies get a model as a plain async function (what the
agent will pass them); the rest never call one."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from mamba_agents import AgentSettings, CompactionConfig
from mamba_agents.context import (
    STRATEGIES,
    ContextManager,
    is_summary,
    protected,
    split_units,
)
from mamba_agents.errors import ConfigError
from mamba_agents.messages import Message, ToolCall


def config(strategy: str, **values) -> CompactionConfig:
    values = {"trigger_threshold_tokens": 400, "target_tokens": 200, **values}
    return CompactionConfig(strategy=strategy, **values)


def random_history(rng: random.Random, turns: int) -> list[Message]:
    """A history of user turns, each answered directly or after some tool exchanges."""
    messages = [Message.system("You are terse.")]
    for turn in range(turns):
        messages.append(Message.user(f"question {turn} " + "word " * rng.randint(1, 30)))
        for exchange in range(rng.randint(0, 3)):
            calls = tuple(
                ToolCall(f"c{turn}-{exchange}-{n}", "read_file", json.dumps({"path": "a"}))
                for n in range(rng.randint(1, 3))
            )
            messages.append(Message(role="assistant", tool_calls=calls))
            messages += [Message.tool_result(c, "data " * rng.randint(1, 200)) for c in calls]
        messages.append(Message(role="assistant", content="answer " * rng.randint(1, 40)))
    return messages


def manager_for(messages: list[Message], strategy: str, **values) -> ContextManager:
    async def ask(wire, instruction):
        if "scores" in instruction:
            return json.dumps({"scores": {str(n): n % 10 for n in range(1, 500)}}), 0.001
        return "Goals: answer the questions. Files and names: a", 0.002

    manager = ContextManager(config(strategy, **values), ask=ask)
    manager.add_messages(messages)
    return manager


def assert_valid(messages: list[Message]) -> None:
    """Every tool result follows the assistant message that asked for it."""
    pending: set[str] = set()
    for message in messages:
        if message.role == "tool":
            assert message.tool_call_id in pending, "a tool result lost its call"
            pending.discard(message.tool_call_id)
        else:
            assert not pending, "a tool call lost its result"
        if message.role == "assistant":
            pending = {call.id for call in message.tool_calls}
    assert not pending


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_no_strategy_splits_a_tool_exchange_or_touches_recent_turns(strategy):
    rng = random.Random(strategy)
    for _ in range(40):
        history = random_history(rng, rng.randint(1, 12))
        recent = rng.randint(0, 4)
        manager = manager_for(history, strategy, preserve_recent_turns=recent)
        result = asyncio.run(manager.compact())
        kept = manager.get_messages()
        assert_valid(kept)
        assert kept[0].role == "system"  # the system prompt is never removed
        user_turns = [m for m in history if m.role == "user"]
        for message in user_turns[len(user_turns) - recent :] if recent else []:
            start = history.index(message)
            following = history[start:]
            end = next((i for i, m in enumerate(following[1:], 1) if m.role == "user"), None)
            assert all(m in kept for m in following[:end])  # the whole recent turn is kept
        assert result.removed_count == len(result.removed_ids)
        assert {m.id for m in kept}.isdisjoint(result.removed_ids)
        assert result.tokens_after == manager.token_count or result.summary is not None


def test_sliding_window_drops_whole_old_turns_until_the_target():
    history = [Message.system("s")]
    for n in range(20):
        history += [Message.user(f"turn {n} " * 15), Message(role="assistant", content="ok " * 15)]
    manager = manager_for(history, "sliding_window", preserve_recent_turns=2)
    before = manager.token_count
    result = asyncio.run(manager.compact())
    assert result.reached_target and result.note is None
    assert result.tokens_before == before and manager.token_count <= 200
    kept = manager.get_messages()
    # What is left starts at a user message: no answer without its question.
    assert kept[1].role == "user"


def test_selective_pruning_removes_tool_exchanges_only():
    history = random_history(random.Random(2), 10)
    manager = manager_for(history, "selective_pruning", preserve_recent_turns=1)
    result = asyncio.run(manager.compact())
    removed = [m for m in history if m.id in set(result.removed_ids)]
    assert removed and all(m.role in ("assistant", "tool") for m in removed)
    assert all(m.tool_calls or m.role == "tool" for m in removed)


def test_summarize_older_folds_everything_older_into_one_summary_with_its_cost():
    history = random_history(random.Random(3), 10)
    asked: list[tuple[list, str]] = []

    async def ask(wire, instruction):
        asked.append((wire, instruction))
        return "Goals: keep going. Files and names: src/app.py", 0.0042

    manager = ContextManager(config("summarize_older", preserve_recent_turns=2), ask=ask)
    manager.add_messages(history)
    result = asyncio.run(manager.compact(focus="the database layer"))
    [(wire, instruction)] = asked
    assert "Files and names" in instruction and "Focus on: the database layer" in instruction
    assert wire[0]["role"] == "user" and not any(m["role"] == "system" for m in wire)
    kept = manager.get_messages()
    [summary] = [m for m in kept if is_summary(m)]
    assert "src/app.py" in summary.text and kept.index(summary) == 1
    assert result.summary.startswith("Goals") and result.cost_usd == 0.0042
    assert_valid(kept)


def test_model_strategies_refuse_to_invent_without_a_model():
    history = random_history(random.Random(4), 10)
    for strategy in ("summarize_older", "importance_scoring", "hybrid"):
        manager = ContextManager(config(strategy, target_tokens=10, trigger_threshold_tokens=20))
        manager.add_messages(history)
        with pytest.raises(ConfigError, match="needs a model"):
            asyncio.run(manager.compact())


def test_importance_scoring_drops_the_lowest_scored_turns_first():
    history = [Message.system("s")]
    for n in range(6):
        history += [Message.user(f"turn {n} " * 30), Message(role="assistant", content="ok " * 30)]

    async def ask(wire, instruction):
        # Turn units are numbered 1..; the user message of the 2nd turn matters most.
        return json.dumps({"scores": {"3": 9, "1": 0, "2": 0}}), 0.001

    manager = ContextManager(
        config("importance_scoring", preserve_recent_turns=1, target_tokens=240), ask=ask
    )
    manager.add_messages(history)
    result = asyncio.run(manager.compact())
    kept = manager.get_messages()
    assert history[3] in kept  # scored 9: kept
    assert history[1] not in kept and history[2] not in kept  # scored 0: dropped first
    assert result.cost_usd == 0.001


def test_preview_makes_no_model_call_and_changes_nothing():
    history = random_history(random.Random(5), 12)

    async def ask(wire, instruction):
        raise AssertionError("a preview must not call the model")

    for strategy in STRATEGIES:
        manager = ContextManager(config(strategy), ask=ask)
        manager.add_messages(history)
        result = asyncio.run(manager.preview())
        assert result.preview and result.removed_count > 0
        assert result.tokens_after < result.tokens_before
        assert manager.get_messages() == history


def test_an_unreachable_target_is_said_plainly():
    history = [
        Message.system("s " * 500),
        Message.user("hi"),
        Message(role="assistant", content="yo"),
    ]
    manager = manager_for(history, "sliding_window")
    result = asyncio.run(manager.compact())
    assert not result.reached_target and "could not reach 200 tokens" in result.note


def test_each_message_is_counted_once():
    class Counting:
        def __init__(self):
            from mamba_agents.tokens import TokenCounter

            self.inner, self.calls = TokenCounter(), 0

        def count_messages(self, messages):
            self.calls += 1
            return self.inner.count_messages(messages)

    counter = Counting()
    manager = ContextManager(config("sliding_window"), counter=counter)
    history = random_history(random.Random(6), 30)
    manager.add_messages(history)
    added = counter.calls
    assert manager.should_compact()
    asyncio.run(manager.preview())
    assert counter.calls == added  # planning reuses the counts


def test_units_and_protection():
    history = random_history(random.Random(7), 5)
    units = split_units(history, [1] * len(history))
    assert units[0].kind == "system"
    assert sum(u.end - u.start for u in units) == len(history)
    keep = protected(units, 2)
    assert 0 in keep and all(units[i].turn >= 4 or i == 0 for i in keep)


def test_the_seeds_example_context_table_loads(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[context]\nstrategy = "hybrid"\ntrigger_threshold_tokens = 100000\ntarget_tokens = 80000\n'
    )
    settings = AgentSettings(config_file=path, environ={})
    assert settings.context.strategy == "hybrid"
    assert settings.context.trigger_for(128_000) == 100_000
    assert settings.context.target_for(128_000) == 80_000
    assert AgentSettings.defaults().context.trigger_for(10_000) == 8_000


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('strategy = "fifo"', "context.strategy: must be one of"),
        ("trigger_threshold_tokens = 100\ntarget_tokens = 200", "must be below"),
        ("target_ratio = 1.5", "context.target_ratio"),
        ("preserve_recent_turns = -1", "preserve_recent_turns"),
    ],
)
def test_a_bad_context_table_names_the_file_and_key(tmp_path: Path, table, message):
    path = tmp_path / "config.toml"
    path.write_text(f"[context]\n{table}\n")
    with pytest.raises(ConfigError, match=message) as caught:
        AgentSettings(config_file=path, environ={})
    assert str(path) in str(caught.value)


# -- the agent's own context -------------------------------------------------------------------
def agent_with_history(home, turns: int, *, tools=(), **context):
    from scripted_backend import ScriptedBackend

    from mamba_agents import Agent, AgentConfig, SessionStore
    from mamba_agents.store import Session

    session = Session(model="openai/gpt-4o")
    for n in range(turns):
        question = Message.user(f"question {n}: " + "details " * 40)
        answer = Message(role="assistant", content="noted " * 20, model="openai/gpt-4o")
        session.add_state(parent_id=session.head, new_messages=[question, answer])
    backend = ScriptedBackend({"text": "Goals: finish. Files and names: src/app.py"})
    settings = AgentSettings(environ={}, load=False)
    values = {"trigger_threshold_tokens": 400, "target_tokens": 200, **context}
    agent = Agent(
        "openai/gpt-4o",
        settings=settings,
        backend=backend,
        session=session,
        store=SessionStore(),
        config=AgentConfig(context=CompactionConfig(**values)),
        tools=tools,
    )
    return agent, backend


def test_agent_compaction_adds_a_state_and_deletes_nothing(home):
    agent, backend = agent_with_history(
        home, 10, strategy="summarize_older", preserve_recent_turns=2
    )
    before = agent.get_messages()
    head = agent.session.head
    requests_before = agent.session_usage().total.request_count
    assert agent.should_compact()
    result = asyncio.run(agent.compact(focus="the app"))
    assert result.removed_count == 16 and result.summary.startswith("Goals")
    # The summary request: the older turns, then the instruction with the focus.
    sent = backend.requests[-1]["messages"]
    assert "Files and names" in sent[-1]["content"] and "Focus on: the app" in sent[-1]["content"]
    state = agent.session.state()
    assert state.kind == "compaction" and state.parent_id == head
    assert state.receipt["removed_ids"] == list(result.removed_ids)
    assert state.receipt["strategy"] == "summarize_older" and state.receipt["cost_usd"] > 0
    context = agent.get_messages()
    assert is_summary(context[0]) and "src/app.py" in context[0].text
    assert context[1:] == before[-4:]
    assert all(m.id in agent.session.messages for m in before)  # nothing left the file
    assert agent.session_usage().total.request_count == requests_before + 1  # the summary's cost
    assert not agent.should_compact()
    assert "summaries" in agent.get_context_state(detail=True).parts  # what /context shows
    # The file keeps it all: reloaded, and the state before gives the whole context back.
    from mamba_agents import SessionStore

    reloaded = SessionStore().load(agent.session.id)
    assert reloaded.state().receipt == state.receipt
    assert reloaded.context(head) == before
    agent.rewind(1)
    assert agent.get_messages() == before


def test_a_compaction_is_a_span_with_its_summary_request_inside(home):
    from mamba_agents.observability import RequestTracer

    agent, _ = agent_with_history(home, 10, strategy="summarize_older", preserve_recent_turns=2)
    tracer = RequestTracer()
    tracer.start_trace()
    result = asyncio.run(agent.compact())
    trace = tracer.end_trace()
    compaction, summary = trace.spans
    assert compaction.name == "compaction" and summary.parent_id == compaction.span_id
    assert summary.name == "chat openai/gpt-4o"
    assert compaction.attributes["mamba.compaction.strategy"] == "summarize_older"
    assert compaction.attributes["mamba.compaction.removed_messages"] == result.removed_count
    assert compaction.attributes["mamba.compaction.tokens_before"] == result.tokens_before
    assert compaction.attributes["mamba.compaction.tokens_after"] == result.tokens_after
    assert compaction.attributes["mamba.cost_usd"] == summary.attributes["mamba.cost_usd"] > 0


def test_agent_compaction_preview_asks_no_model(home):
    agent, backend = agent_with_history(home, 10, strategy="hybrid")
    result = asyncio.run(agent.compact(preview=True))
    assert result.preview and result.removed_count > 0 and backend.requests == []
    assert agent.session.state().kind != "compaction"


def test_a_compaction_that_removes_nothing_adds_no_state(home):
    agent, _ = agent_with_history(home, 2, strategy="sliding_window")
    head = agent.session.head
    result = asyncio.run(agent.compact())
    assert result.removed_count == 0 and agent.session.head == head


def test_a_turn_that_would_pass_the_trigger_compacts_first(home):
    agent, backend = agent_with_history(
        home, 10, strategy="summarize_older", preserve_recent_turns=1
    )
    backend.add({"text": "the answer"})
    events = []

    async def turn():
        async for event in agent.run_stream("and now?"):
            events.append(event)

    asyncio.run(turn())
    kinds = [event.type for event in events]
    assert kinds[:2] == ["init", "compaction"] and kinds[-1] == "result"
    compaction = events[1]
    assert compaction.removed_count == 18 and compaction.tokens_after < compaction.tokens_before
    assert events[-1].status == "success" and events[-1].output == "the answer"
    # The turn's request carried the summary and the kept turn, not the folded ones.
    sent = backend.requests[-1]["messages"]
    assert sent[0]["content"].startswith("[Summary of the earlier conversation]")
    assert len(sent) == 1 + 2 + 1  # summary, the kept turn, the new prompt
    lineage = [state.kind for state in agent.session.lineage()]
    assert lineage[:2] == ["turn", "compaction"]


def test_auto_compact_off_leaves_the_context_alone(home):
    agent, backend = agent_with_history(home, 10, auto_compact=False)
    backend.script[:] = [{"text": "fine"}]
    result = agent.run_sync("and now?")
    assert result.status == "success" and len(backend.requests) == 1
    assert all(state.kind == "turn" for state in agent.session.lineage())


def test_a_summary_no_shorter_than_what_it_replaces_changes_nothing(home):
    history = [Message.system("s")]
    for n in range(4):
        history += [Message.user(f"q{n}"), Message(role="assistant", content="a")]

    async def ask(wire, instruction):
        return "a very long summary " * 50, 0.003

    manager = ContextManager(
        config("summarize_older", trigger_threshold_tokens=20, target_tokens=10), ask=ask
    )
    manager.add_messages(history)
    result = asyncio.run(manager.compact())
    assert result.removed_count == 0 and "not shorter" in result.note
    assert result.cost_usd == 0.003 and manager.get_messages() == history


def test_a_compaction_that_cannot_help_is_not_paid_for_every_turn(home):
    agent, backend = agent_with_history(
        home, 4, strategy="summarize_older", preserve_recent_turns=1, target_tokens=10,
        trigger_threshold_tokens=20,
    )  # fmt: skip
    # The first turn's reported usage says the context is as big as it was estimated.
    size = agent.get_context_state().token_count + 5
    usage = {"prompt_tokens": size, "completion_tokens": 1, "total_tokens": size + 1}
    backend.script[:] = [
        {"text": "long summary " * 400},
        {"text": "one", "usage": usage},
        {"text": "two"},
    ]
    events = []

    async def turns():
        for prompt in ("first", "second"):
            async for event in agent.run_stream(prompt):
                events.append(event)

    asyncio.run(turns())
    errors = [e for e in events if e.type == "error"]
    assert len(errors) == 1 and "did not help" in errors[0].message
    assert len(backend.requests) == 3  # one summary attempt, then the two turns
    assert [e.output for e in events if e.type == "result"] == ["one", "two"]


def test_the_status_line_warns_as_the_window_fills():
    from mamba_agents.engine import ContextState
    from mamba_cli.chat.status import fullness_style
    from mamba_cli.chat.styles import RED, YELLOW

    def at(tokens):
        return fullness_style(ContextState(tokens, 10, 1000, "estimated"))

    assert at(799) is None and at(800) == YELLOW and at(899) == YELLOW and at(900) == RED
    assert fullness_style(ContextState(5, 1, None, "estimated")) is None


# -- during a run, and when the provider says the prompt is too long --------------------------
OPENAI_TOO_LONG = {
    "message": "This model's maximum context length is 900 tokens. However, your messages "
    "resulted in 1400 tokens. Please reduce the length of the messages.",
    "type": "invalid_request_error",
    "param": "messages",
    "code": "context_length_exceeded",
}
LLAMACPP_TOO_LONG = {
    "code": 400,
    "message": "the request exceeds the available context size, try increasing it",
    "type": "exceed_context_size_error",
    "n_prompt_tokens": 1400,
    "n_ctx": 900,
}


def big_output() -> str:
    """Return a long listing."""
    return "line of output\n" * 150


def run_events(agent, prompt: str) -> list:
    events = []

    async def turn():
        async for event in agent.run_stream(prompt):
            events.append(event)

    asyncio.run(turn())
    return events


def test_a_long_run_is_compacted_between_its_tool_steps(home):
    agent, backend = agent_with_history(
        home, 0, tools=[big_output], strategy="selective_pruning", preserve_recent_turns=1,
        trigger_threshold_tokens=1500, target_tokens=700, tool_result_max_tokens=5000,
    )  # fmt: skip
    calls = [{"tool_calls": [{"name": "big_output", "id": f"c{n}"}]} for n in range(8)]
    backend.script[:] = [*calls, {"text": "all read"}]
    events = run_events(agent, "read them all")
    result = events[-1]
    assert result.status == "success" and result.output == "all read", result.error
    compactions = [e for e in events if e.type == "compaction"]
    assert compactions, "a run of eight large tool results never compacted"
    # The compaction came between tool steps, not before the turn.
    first = next(i for i, e in enumerate(events) if e.type == "compaction")
    assert any(e.type == "tool_result" for e in events[:first])
    # No request passed the trigger by much; the last one kept the prompt and the last step.
    last = backend.requests[-1]["messages"]
    assert last[0] == {"role": "user", "content": "read them all"}
    assert sum(1 for m in last if m["role"] == "tool") < 8
    # The whole run is in the file: every message, and a state before each compaction.
    assert all(m.id in agent.session.messages for m in result.new_messages)
    assert len(result.new_messages) == 1 + 8 * 2 + 1
    kinds = [state.kind for state in reversed(agent.session.lineage())]
    assert kinds[0] == "turn" and "compaction" in kinds and kinds[-1] == "turn"
    before = agent.session.lineage()[-1]  # the first saved part of the run
    assert agent.session.context(before.id)[0].text == "read them all"
    # The state before the last compaction still gives the whole context, after a reload.
    from mamba_agents import SessionStore

    compaction = next(s for s in agent.session.lineage() if s.kind == "compaction")
    full = SessionStore().load(agent.session.id).context(compaction.parent_id)
    assert len(full) > len(agent.session.context(compaction.id))
    assert set(compaction.receipt["removed_ids"]) <= {m.id for m in full}


@pytest.mark.parametrize("shape", [OPENAI_TOO_LONG, LLAMACPP_TOO_LONG], ids=["openai", "llamacpp"])
def test_a_prompt_the_provider_finds_too_long_is_compacted_and_sent_again(home, shape):
    # The model facts say 128k tokens, so nothing compacts in advance; the provider knows better.
    agent, backend = agent_with_history(
        home, 10, strategy="sliding_window", preserve_recent_turns=1,
        trigger_threshold_tokens=None, target_tokens=None,
    )  # fmt: skip
    backend.script[:] = [{"status": 400, "error": shape}, {"text": "fits now"}]
    events = run_events(agent, "and now?")
    result = events[-1]
    assert result.status == "success" and result.output == "fits now", result.error
    assert [e.type for e in events].count("compaction") == 1
    first, second = backend.requests
    assert len(second["messages"]) < len(first["messages"])
    # The window the provider named is used from now on, in our own token counts (the
    # provider counted 1400 where we count less, so it holds less of ours).
    state = agent.get_context_state()
    assert state.context_window < 900 and state.token_count <= state.context_window * 0.8


def test_a_prompt_too_long_for_any_compaction_is_a_clear_error(home):
    agent, backend = agent_with_history(home, 0, strategy="hybrid")
    backend.script[:] = [{"status": 400, "error": OPENAI_TOO_LONG}]
    from mamba_agents.errors import ContextWindowExceededError

    with pytest.raises(ContextWindowExceededError) as caught:
        agent.run_sync("x " * 3000)
    message = str(caught.value)
    assert "1,400 tokens" in message and "window holds 900" in message
    assert "compaction could not help" in message and "\n" not in message
    assert len(backend.requests) == 1  # not sent again unchanged


def test_a_prompt_still_too_long_after_compacting_says_so(home):
    agent, backend = agent_with_history(
        home, 10, strategy="sliding_window", trigger_threshold_tokens=None, target_tokens=None
    )
    backend.script[:] = [{"status": 400, "error": LLAMACPP_TOO_LONG}] * 2
    from mamba_agents.errors import ContextWindowExceededError

    with pytest.raises(ContextWindowExceededError, match="still too long after compacting"):
        agent.run_sync("and now?")
    assert len(backend.requests) == 2  # one retry only


@pytest.mark.parametrize(
    ("body", "window", "prompt"),
    [
        ({"error": OPENAI_TOO_LONG}, 900, 1400),
        ({"error": LLAMACPP_TOO_LONG}, 900, 1400),
        ({"error": {"message": "prompt is too long: 210000 tokens > 200000 maximum"}}, None, None),
    ],
)
def test_providers_context_errors_are_recognised(body, window, prompt):
    from mamba_agents.backends._base import error_for_status
    from mamba_agents.errors import ContextWindowExceededError

    error = error_for_status(400, body, model="m", key_variable=None)
    assert isinstance(error, ContextWindowExceededError)
    assert (error.window, error.prompt_tokens) == (window, prompt)
    other = error_for_status(400, {"error": {"message": "bad tool schema"}}, model="m",
                             key_variable=None)  # fmt: skip
    assert not isinstance(other, ContextWindowExceededError)


def test_a_large_tool_result_enters_the_context_cut_and_the_file_keeps_it_whole(home):
    agent, backend = agent_with_history(home, 0, tools=[big_output], tool_result_max_tokens=60)
    backend.script[:] = [{"tool_calls": [{"name": "big_output", "id": "c1"}]}, {"text": "ok"}]
    result = agent.run_sync("read it")
    assert result.status == "success"
    sent = backend.requests[-1]["messages"][-1]
    assert sent["role"] == "tool" and "cut to fit the context window" in sent["content"]
    assert sent["content"].startswith("line of output") and len(sent["content"]) < 600
    from mamba_agents import SessionStore

    stored = SessionStore().load(agent.session.id).context()[-2]
    assert stored.role == "tool" and stored.full_content == big_output()
    assert stored.content == sent["content"]


def test_fit_tool_result_leaves_small_results_and_other_messages_alone():
    from mamba_agents.context import fit_tool_result

    call = ToolCall("c", "t", "{}")
    small = Message.tool_result(call, "short")
    assert fit_tool_result(small, 10, len) is small
    answer = Message(role="assistant", content="x" * 100)
    assert fit_tool_result(answer, 10, len) is answer
    big = Message.tool_result(call, "".join(f"{n:04}" for n in range(1000)))
    cut = fit_tool_result(big, 400, len)
    assert cut.content.startswith("0000") and cut.content.endswith("0999")
    assert cut.full_content == big.content and len(cut.content) < 600


def test_an_open_turn_may_lose_its_older_tool_steps_but_not_its_prompt():
    history = [Message.system("s"), Message.user("go")]
    for n in range(5):
        call = ToolCall(f"c{n}", "t", "{}")
        history += [Message(role="assistant", tool_calls=(call,)), Message.tool_result(call, "r")]
    units = split_units(history, [1] * len(history))
    closed = protected(units, 2)
    assert closed == set(range(len(units)))  # a finished last turn is kept whole
    running = protected(units, 2, open_turn=True)
    assert running == {0, 1, 5, 6}  # system, the prompt, the last two steps


def test_usage_from_before_a_compaction_is_not_taken_as_the_size_after(home):
    from mamba_agents import Usage

    agent, _ = agent_with_history(home, 10, strategy="sliding_window")
    last = agent.get_messages()[-1]
    agent.session.messages[last.id] = last.with_updates(usage=Usage(4000, 5))
    assert agent.get_context_state().token_count == 4005
    asyncio.run(agent.compact())
    state = agent.get_context_state()  # the kept answer's usage describes the longer context
    assert state.source == "estimated" and state.token_count < 1000


# -- regressions: what trying it as a user found -----------------------------------------------
def test_after_one_huge_turn_the_next_prompt_still_fits(home):
    # The last turn alone fills the window; the new prompt is the recent turn now.
    agent, backend = agent_with_history(
        home, 2, strategy="sliding_window", trigger_threshold_tokens=None, target_tokens=None
    )
    huge = [Message.user("word " * 3000), Message(role="assistant", content="ok")]
    agent.session.add_state(parent_id=agent.session.head, new_messages=huge)
    backend.script[:] = [{"status": 400, "error": OPENAI_TOO_LONG}, {"text": "fits"}]
    result = agent.run_sync("hi")
    assert result.status == "success" and result.output == "fits"
    assert "word word" not in json.dumps(backend.requests[-1]["messages"])


def test_a_prompt_too_long_by_itself_compacts_nothing(home):
    agent, backend = agent_with_history(
        home, 6, strategy="sliding_window", trigger_threshold_tokens=None, target_tokens=None
    )
    states = len(agent.session.states)
    backend.script[:] = [{"status": 400, "error": LLAMACPP_TOO_LONG}]
    from mamba_agents.errors import ContextWindowExceededError

    with pytest.raises(ContextWindowExceededError, match="the prompt alone takes"):
        agent.run_sync("big " * 2000)
    assert len(agent.session.states) == states and len(backend.requests) == 1


def test_what_compaction_costs_counts_in_the_run_and_its_limit(home):
    agent, backend = agent_with_history(
        home, 10, strategy="summarize_older", preserve_recent_turns=1
    )
    backend.script[:] = [{"text": "Goals: finish"}, {"text": "the answer"}]
    result = agent.run_sync("and now?")
    summary = next(m for m in agent.session.messages.values() if m.status == "compaction_request")
    answer = agent.get_messages()[-1]
    assert result.cost_usd == pytest.approx(summary.cost_usd + answer.cost_usd)
    # mamba usage counts the summary request too (the compaction's receipt names it).
    from mamba_agents.store._index_rows import session_rows

    ids = {row[0] for row in session_rows(agent.session)}
    assert summary.id in ids and answer.id in ids


def test_rewind_steps_over_a_compaction_and_undoes_it_right_after(home):
    agent, backend = agent_with_history(home, 10, strategy="sliding_window")
    before = agent.get_messages()
    asyncio.run(agent.compact())
    agent.rewind(1)  # right after a compaction: undo it
    assert agent.get_messages() == before
    asyncio.run(agent.compact())
    backend.script[:] = [{"text": "next"}]
    agent.run_sync("one more")
    agent.rewind(1)  # removes the turn, and the compaction before it
    assert agent.get_messages() == before


def test_a_trigger_alone_sets_a_target_below_it_and_ratios_must_agree():
    assert CompactionConfig(trigger_threshold_tokens=3000).target_for(8192) == 2250
    assert CompactionConfig().target_for(10_000) == 5000
    with pytest.raises(ConfigError, match="target_ratio"):
        CompactionConfig(trigger_ratio=0.3, target_ratio=0.9)


def test_a_limit_too_small_to_cut_leaves_the_result_whole():
    from mamba_agents.context import fit_tool_result

    message = Message.tool_result(ToolCall("c", "t", "{}"), "x" * 40)
    assert fit_tool_result(message, 5, len) is message
    lines = Message.tool_result(ToolCall("c", "t", "{}"), "".join(f"row {n}\n" for n in range(500)))
    cut = fit_tool_result(lines, 300, len)
    head, _, _ = cut.content.partition("\n[...")
    assert head.endswith("\n") or head.splitlines()[-1].startswith("row ")
    assert all(line.startswith(("row ", "[...", "")) for line in cut.content.splitlines())


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"kind": "squash"}, "kind"),
        ({"receipt": {"tokens_before": -5}}, "tokens_before"),
        ({"receipt": {"cost_usd": "NaN"}}, "cost_usd"),
        ({"receipt": {"removed_ids": 5}}, "removed_ids"),
        ({"receipt": {"note": [1, 2]}}, "note"),
    ],
)
def test_a_damaged_compaction_state_is_a_one_line_error(home, change, key):
    from mamba_agents import SessionStore
    from mamba_agents.errors import SessionError

    agent, _ = agent_with_history(home, 10, strategy="sliding_window")
    asyncio.run(agent.compact())
    store = SessionStore()
    path = store.path_for(agent.session.id)
    data = json.loads(path.read_text())
    state = next(s for s in data["states"] if s["kind"] == "compaction")
    for field, value in change.items():
        if field == "receipt":
            state["receipt"].update(value)
        else:
            state[field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(SessionError, match=key) as caught:
        SessionStore().load(agent.session.id)
    assert "\n" not in str(caught.value)
