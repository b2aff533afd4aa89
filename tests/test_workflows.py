"""Workflows in the library: the base class's limits and hooks, and each pattern, driven by
scripted models in the test process."""

from __future__ import annotations

import asyncio
import json

import pytest
from scripted_backend import ScriptedBackend

from mamba_agents import Agent, AgentSettings, SessionStore, Workflow, WorkflowConfig
from mamba_agents.workflows import (
    ChainWorkflow,
    EvaluatorOptimizerWorkflow,
    ParallelWorkflow,
    PlanExecuteWorkflow,
    ReActConfig,
    ReActHooks,
    ReActWorkflow,
    RouterWorkflow,
    WorkflowHooks,
    WorkflowState,
    parse_plan,
    unwrap_answer,
)


def agent(*replies, name=None, description="", tools=(), store=None):
    backend = ScriptedBackend(*replies)
    settings = AgentSettings(environ={}, load=False)
    made = Agent(
        "openai/gpt-4o",
        settings=settings,
        backend=backend,
        name=name,
        description=description,
        tools=tools,
        store=store,
    )
    return made, backend


def lookup(key: str) -> str:
    """Look a key up.

    Args:
        key: What to look up.
    """
    return f"{key} is 42"


def final(answer) -> dict:
    return {"tool_calls": [{"name": "final_answer", "arguments": {"answer": answer}}]}


def test_react_thinks_acts_observes_and_answers_with_its_own_tool():
    events = []
    hooks = ReActHooks(
        on_workflow_start=lambda state: events.append("start"),
        on_thought=lambda state, thought: events.append(f"thought:{thought}"),
        on_action=lambda state, tool, args: events.append(f"action:{tool}:{args['key']}"),
        on_observation=lambda state, obs, err: events.append(f"observation:{obs}"),
        on_workflow_complete=lambda result: events.append("complete"),
    )
    worker, backend = agent(
        {
            "text": "I should look it up.",
            "tool_calls": [{"name": "lookup", "arguments": {"key": "x"}}],
        },
        final(json.dumps({"answer": "x is 42"})),
        tools=[lookup],
    )
    flow = ReActWorkflow(worker, config=ReActConfig(max_iterations=5), hooks=hooks)
    result = asyncio.run(flow.run("What is x?"))
    assert result.success and result.termination_reason == "success"
    assert result.output == "x is 42"  # the JSON string was unwrapped
    kinds = [entry.entry_type for entry in result.state.context.scratchpad]
    assert kinds == ["thought", "action", "observation", "final_answer"]
    assert result.state.iteration_count == 2 and result.cost_usd == flow.get_cost() > 0
    assert events == [
        "start",
        "thought:I should look it up.",
        "action:lookup:x",
        "observation:x is 42",
        "complete",
    ]
    assert "Thought: I should look it up." in flow.get_reasoning_trace()
    # The final-answer tool was offered to the workflow's turns, never added to the agent.
    assert "final_answer" in {t["function"]["name"] for t in backend.requests[0]["tools"]}
    assert "final_answer" not in worker.tools
    # A second workflow on the same agent works.
    backend.add(final("again"))
    assert asyncio.run(ReActWorkflow(worker).run("Once more?")).output == "again"


def test_react_out_of_iterations_ends_with_a_status_of_its_own():
    errors = []
    worker, backend = agent(*[{"text": "hmm"}] * 10)
    hooks = ReActHooks(on_workflow_error=lambda state, error: errors.append(error))
    config = ReActConfig(max_iterations=3, max_consecutive_thoughts=10)
    result = asyncio.run(ReActWorkflow(worker, config=config, hooks=hooks).run("think"))
    assert not result.success and result.termination_reason == "max_iterations"
    assert "max_iterations (3)" in result.error and not errors
    assert len(backend.requests) == 3


def test_react_takes_text_as_the_answer_after_being_told_to_act():
    worker, backend = agent({"text": "thinking"}, {"text": "It is 7."})
    result = asyncio.run(
        ReActWorkflow(worker, config=ReActConfig(max_consecutive_thoughts=1)).run("what?")
    )
    assert result.success and result.output == "It is 7."
    assert "You have thought enough" in backend.requests[1]["messages"][-1]["content"]


def test_a_hook_that_raises_does_not_end_the_workflow_and_timeouts_fire_the_error_hook():
    seen = []

    def broken(*args):
        raise RuntimeError("hook bug")

    worker, _ = agent({"hang": True})
    hooks = WorkflowHooks(
        on_workflow_start=broken,
        on_step_start=broken,
        on_workflow_error=lambda state, error: seen.append(type(error)),
    )
    flow = ChainWorkflow([worker], config=WorkflowConfig(timeout_seconds=0.5), hooks=hooks)
    result = asyncio.run(flow.run("wait"))
    assert result.termination_reason == "timeout" and not result.success
    assert seen == [TimeoutError]


def test_plan_execute_replans_after_a_failed_step_and_answers_from_the_results():
    worker, backend = agent(
        {"text": "1. read the notes\n2. count the words"},
        {"text": "the notes say hello"},
        {"text": "FAILED: no counter"},
        {"text": "1. count by hand"},
        {"text": "two words"},
        {"text": "The notes say hello: two words."},
    )
    result = asyncio.run(PlanExecuteWorkflow(worker).run("summarise the notes"))
    assert result.success and result.output == "The notes say hello: two words."
    context = result.state.context
    assert context.replans == 1 and context.plan == ["count by hand"]
    assert [r["ok"] for r in context.results] == [True, False, True]
    assert [s.step_type for s in result.state.steps] == [
        "plan",
        "execute",
        "execute",
        "plan",
        "execute",
        "answer",
    ]
    assert "Step 2 failed: FAILED: no counter" in backend.requests[3]["messages"][-1]["content"]


def test_parse_plan_reads_lists_and_json():
    assert parse_plan("Plan:\n1. a\n2) b\n- c", 5) == ["a", "b", "c"]
    assert parse_plan('["x", "y", "z"]', 2) == ["x", "y"]
    assert unwrap_answer('{"answer": {"answer": "42"}}') == "42"


def test_chain_passes_each_result_on_and_cumulative_passes_them_all():
    first, _ = agent({"text": "draft"}, name="drafter")
    second, _ = agent({"text": "edited"}, name="editor")
    third, backend = agent(name="reviewer")
    flow = ChainWorkflow([first, second, third], cumulative=True)
    result = asyncio.run(flow.run("write"))
    sent = backend.requests[0]["messages"][-1]["content"]
    assert "[drafter]\ndraft" in sent and "[editor]\nedited" in sent and "write" in sent
    assert result.output.startswith("You said: The request:") and result.total_steps == 3
    plain_first, _ = agent({"text": "draft"}, name="drafter")
    plain_second, _ = agent({"text": "edited"}, name="editor")
    plain_third, plain = agent(name="reviewer")
    asyncio.run(ChainWorkflow([plain_first, plain_second, plain_third]).run("write"))
    assert "[drafter]" not in plain.requests[0]["messages"][-1]["content"]


def test_parallel_fans_out_and_in():
    a, _ = agent({"text": "from a"}, name="a")
    b, _ = agent({"text": "from b"}, name="b")
    judge, backend = agent({"text": "both agree"}, name="judge")
    result = asyncio.run(ParallelWorkflow([a, b], judge).run("question"))
    assert result.output == "both agree"
    sent = backend.requests[0]["messages"][-1]["content"]
    assert "The request:\nquestion" in sent and "[a]\nfrom a" in sent and "[b]\nfrom b" in sent


def test_router_runs_the_agent_the_model_picks():
    coder, _ = agent({"text": "code answer"}, name="coder", description="writes code")
    writer, _ = agent({"text": "prose"}, name="writer", description="writes prose")
    router, router_backend = agent(
        {"text": '{"agent": "writer", "reason": "prose"}'}, name="router"
    )
    flow = RouterWorkflow([coder, writer], router)
    result = asyncio.run(flow.run("a story please"))
    assert result.output == "prose" and result.state.context["route"] == "writer"
    assert "- coder: writes code" in router_backend.requests[0]["messages"][-1]["content"]


def test_evaluator_optimizer_revises_until_the_rating_is_reached():
    generator, backend = agent({"text": "v1"}, {"text": "v2"}, name="generator")
    evaluator, _ = agent(
        {"text": '{"rating": "FAIR", "feedback": "shorter"}'},
        {"text": '{"rating": "EXCELLENT", "feedback": ""}'},
        name="evaluator",
    )
    flow = EvaluatorOptimizerWorkflow(generator, evaluator, min_rating="GOOD")
    result = asyncio.run(flow.run("write"))
    assert result.output == "v2"
    assert [r["rating"] for r in result.state.context["ratings"]] == ["FAIR", "EXCELLENT"]
    assert "shorter" in backend.requests[1]["messages"][-1]["content"]


def test_the_budget_stops_a_workflow_between_steps():
    first, _ = agent(name="one")
    second, backend = agent(name="two")
    flow = ChainWorkflow([first, second], config=WorkflowConfig(max_cost=1e-9))
    result = asyncio.run(flow.run("go"))
    assert result.termination_reason == "max_cost" and result.total_steps == 1
    assert backend.requests == []


def test_a_saved_workflow_links_each_step_to_its_agent_session(home):
    store = SessionStore()
    first, _ = agent({"text": "draft"}, name="drafter", store=store)
    second, _ = agent({"text": "done"}, name="reviewer", store=store)
    result = asyncio.run(ChainWorkflow([first, second], store=store).run("write"))
    session = store.load(result.session_id)
    steps = [s.receipt for s in reversed(session.lineage()) if s.receipt and "step" in s.receipt]
    assert [s["agent"] for s in steps] == ["drafter", "reviewer"]
    assert steps[0]["session_id"] == first.session.id
    assert store.load(steps[1]["session_id"]).context()[-1].text == "done"
    # The step messages carry no usage: each request is counted once, in its agent's session.
    assert all(m.usage is None for m in session.messages.values())


class Counting(Workflow[None, str, dict]):
    """The seed README's custom workflow, as written there (with a completion check)."""

    def __init__(self, worker, config=None):
        super().__init__(config=config)
        self.agent = worker

    @property
    def name(self) -> str:
        return "my_workflow"

    def _create_initial_state(self, prompt: str) -> WorkflowState[dict]:
        return WorkflowState(context={"prompt": prompt, "observations": []})

    async def _execute(self, prompt: str, state: WorkflowState[dict], deps=None) -> str:
        while state.iteration_count < self._config.max_iterations:
            state.iteration_count += 1
            result = await self.agent.run(prompt)
            if "done" in result.output:
                return result.output
        return "Max iterations reached"


def test_a_custom_workflow_as_the_seed_shows_it():
    worker, _ = agent({"text": "not yet"}, {"text": "done now"})
    result = asyncio.run(Counting(worker, config=WorkflowConfig(max_iterations=5)).run("go"))
    assert result.success and result.output == "done now"
    assert result.state.iteration_count == 2


@pytest.mark.parametrize("bad", [{"max_steps": 0}, {"timeout_seconds": -1}, {"max_cost": 0}])
def test_bad_workflow_config_is_a_config_error(bad):
    from mamba_agents.errors import ConfigError

    with pytest.raises(ConfigError, match=next(iter(bad))):
        WorkflowConfig(**bad)


def test_each_workflow_step_is_a_span_around_its_agents_run():
    from mamba_agents.observability import RequestTracer

    a, _ = agent({"text": "from a"}, name="a")
    b, _ = agent({"text": "from b"}, name="b")
    judge, _ = agent({"text": "both agree"}, name="judge")
    tracer = RequestTracer()
    tracer.start_trace()
    flow = ParallelWorkflow([a, b], judge)
    flow.label = "second-opinion"  # what `mamba workflow` sets: the workflow file's name
    result = asyncio.run(flow.run("question"))
    trace = tracer.end_trace()
    assert result.success
    (workflow,) = trace.find("workflow")
    assert workflow.name == "workflow second-opinion"
    assert workflow.attributes["mamba.workflow.pattern"] == "parallel"
    assert workflow.attributes["mamba.workflow.status"] == "success"
    assert workflow.attributes["mamba.workflow.steps"] == 3
    steps = trace.find("workflow_step")
    assert sorted(s.name for s in steps) == [
        "workflow_step 1 a",
        "workflow_step 2 b",
        "workflow_step 3 judge",
    ]
    for step in steps:
        assert step.parent_id == workflow.span_id
        (run,) = trace.children(step)
        assert run.name == f"invoke_agent {step.attributes['gen_ai.agent.name']}"
        assert [s.name for s in trace.children(run)] == ["chat openai/gpt-4o"]
    # The two fanned-out steps overlapped in time; the judge came after both.
    first, second, judge_step = sorted(steps, key=lambda s: s.name)
    assert first.start_time < second.end_time and second.start_time < first.end_time
    assert judge_step.start_time >= max(first.end_time, second.end_time)
