"""`mamba workflow` through the installed command, against the scripted model server."""

from __future__ import annotations

import json
import signal

import pytest
from conftest import start_mamba, wait_until

CHAIN = """description = "Draft, then review"
pattern = "chain"

[agents.drafter]
description = "writes the first draft"
system_prompt = "You write drafts."
tools = ["read_file"]

[agents.reviewer]
system_prompt = "You review drafts."

[chain]
sequence = ["drafter", "reviewer"]
"""

PARALLEL = """pattern = "parallel"
[agents.a]
description = "one view"
[agents.b]
description = "another view"
[agents.judge]
description = "puts them together"
[parallel]
fan_out = ["a", "b"]
fan_in = "judge"
"""


def workflow_file(home, name: str, text: str):
    folder = home / "work" / ".mamba" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def run_workflow(mamba, server, *args, **kwargs):
    return mamba(
        "workflow", *args, "--model", "openai/gpt-4o", "--base-url", server.base_url, **kwargs
    )


def test_list_and_show(mamba, home):
    workflow_file(home, "review", CHAIN)
    workflow_file(home, "broken", 'pattern = "chain"\n[chain]\nsequence = ["ghost"]\n')
    listed = mamba("workflow", "list")
    assert listed.code == 0
    assert "react" in listed.stdout and "plan-execute" in listed.stdout
    assert "review  " in listed.stdout and "Draft, then review" in listed.stdout
    assert "broken" in listed.stdout and "invalid" in listed.stdout
    shown = mamba("workflow", "show", "review")
    assert shown.code == 0 and "agent drafter: writes the first draft" in shown.stdout
    assert "tools: read_file" in shown.stdout


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('pattern = "loop"\n', "pattern"),
        ('pattern = "chain"\ncolour = 1\n[chain]\nsequence = ["a"]\n[agents.a]\n', "colour"),
        ('pattern = "chain"\n[chain]\nsequence = ["ghost"]\n', "ghost"),
        ('pattern = "chain"\n[agents.a]\nmodel = 3\n[chain]\nsequence = ["a"]\n', "agents.a.model"),
        ('pattern = "router"\n[agents.a]\n', "router.agents"),
        ("pattern = [", "TOML syntax error"),
    ],
)
def test_a_bad_workflow_file_is_one_line_naming_the_file_and_key(mamba, home, text, key):
    path = workflow_file(home, "bad", text)
    result = mamba("workflow", "show", "bad")
    assert result.code == 2 and result.stderr.count("\n") == 1
    assert str(path) in result.stderr and key in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_workflow_names_the_known_ones(mamba, server):
    result = run_workflow(mamba, server, "nope", "task")
    assert result.code == 2 and "react" in result.stderr and "workflow list" in result.stderr


def test_a_chain_runs_end_to_end_and_is_saved_with_its_steps(mamba, server, home):
    workflow_file(home, "review", CHAIN)
    result = run_workflow(mamba, server, "review", "a poem about pipes")
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("You said: The request:\na poem about pipes")
    assert "[1/2] drafter" in result.stderr and "[2/2] reviewer" in result.stderr
    # The drafter was offered only the tool its file names; the reviewer all of them.
    drafter, reviewer = server.requests
    assert [t["function"]["name"] for t in drafter["tools"]] == ["read_file"]
    assert len(reviewer["tools"]) > 1 and drafter["messages"][0]["content"] == "You write drafts."
    sessions = mamba("sessions", "list", "--json").json()
    flow = next(s for s in sessions if s["title"] == "a poem about pipes" and s["messages"] == 3)
    shown = mamba("sessions", "show", flow["id"]).stdout
    assert "## Workflow steps" in shown and "step 2 (reviewer, chain): success" in shown
    usage = mamba("usage", "--json").json()
    assert sum(row["requests"] for row in usage["rows"]) == len(server.requests) == 2


def test_stream_json_has_workflow_step_events_and_the_result_lists_steps(mamba, server, home):
    workflow_file(home, "review", CHAIN)
    result = run_workflow(mamba, server, "review", "hello", "-o", "stream-json")
    assert result.code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    steps = [(e["step"], e["agent"], e["status"]) for e in lines if e["type"] == "workflow_step"]
    assert steps == [
        (1, "drafter", "start"),
        (1, "drafter", "success"),
        (2, "reviewer", "start"),
        (2, "reviewer", "success"),
    ]
    from mamba_agents.events import parse_event

    assert [parse_event(line).type for line in result.stdout.splitlines()][-1] == "result"
    final = lines[-1]
    assert final["type"] == "result" and final["status"] == "success"
    assert final["num_turns"] == 2
    assert [s["agent"] for s in final["steps"]] == ["drafter", "reviewer"]
    assert final["total_cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in final["steps"]))


def test_the_parallel_fan_out_is_concurrent(mamba, server, home):
    workflow_file(home, "views", PARALLEL)
    server.add({"text": "one", "delay": 1.0}, {"text": "two", "delay": 1.0}, {"text": "both"})
    result = run_workflow(mamba, server, "views", "question")
    assert result.code == 0, result.stderr
    assert server.most_in_flight == 2  # both branches were asked before either answered
    assert result.stdout.strip() == "both"


def test_react_built_in_calls_tools_then_answers(mamba, server, home):
    (home / "work" / "notes.txt").write_text("the answer is 42\n")
    server.add(
        {
            "text": "Read the notes.",
            "tool_calls": [{"name": "read_file", "arguments": {"path": "notes.txt"}}],
        },
        {"tool_calls": [{"name": "final_answer", "arguments": {"answer": "42"}}]},
    )
    result = run_workflow(
        mamba, server, "react", "what is the answer?", "--allow", "read_file", "-o", "json"
    )
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["result"] == "42" and data["status"] == "success"
    assert "the answer is 42" in server.requests[1]["messages"][-1]["content"]


def test_the_budget_stops_the_workflow_between_steps(mamba, server, home):
    workflow_file(home, "review", CHAIN)
    result = run_workflow(mamba, server, "review", "hello", "--max-cost", "0.0000001")
    assert result.code == 4 and "budget" in result.stderr
    assert len(server.requests) == 1


def test_ctrl_c_keeps_the_completed_steps(mamba, server, home):
    workflow_file(home, "review", CHAIN)
    server.add({"text": "draft"}, {"endless": 0.05})
    proc = start_mamba(
        home,
        "workflow",
        "review",
        "hello",
        "--model",
        "openai/gpt-4o",
        "--base-url",
        server.base_url,
    )
    assert wait_until(lambda: len(server.requests) == 2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    sessions = mamba("sessions", "list", "--json").json()
    flow = next(s for s in sessions if s["title"] == "hello" and s["model"] is None)
    shown = mamba("sessions", "show", flow["id"])
    assert shown.code == 0 and "step 1 (drafter, chain): success" in shown.stdout


ROUTER = """pattern = "router"
[agents.coder]
description = "writes code"
[agents.writer]
description = "writes prose"
[router]
agents = ["coder", "writer"]
"""

EVALUATE = """pattern = "evaluator_optimizer"
[agents.writer]
system_prompt = "You write."
[agents.critic]
system_prompt = "You judge."
[evaluator_optimizer]
generator = "writer"
evaluator = "critic"
min_rating = "EXCELLENT"
max_refinements = 1
"""


def test_router_through_the_command(mamba, server, home):
    workflow_file(home, "route", ROUTER)
    server.add({"text": '{"agent": "writer"}'}, {"text": "once upon a time"})
    result = run_workflow(mamba, server, "route", "a story", "-o", "json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["result"] == "once upon a time"
    assert [s["agent"] for s in data["steps"]] == ["router", "writer"]
    assert "- writer: writes prose" in server.requests[0]["messages"][-1]["content"]


def test_evaluator_optimizer_through_the_command(mamba, server, home):
    workflow_file(home, "polish", EVALUATE)
    server.add(
        {"text": "v1"},
        {"text": '{"rating": "FAIR", "feedback": "more rhythm"}'},
        {"text": "v2"},
        {"text": '{"rating": "GOOD", "feedback": "fine"}'},
    )
    result = run_workflow(mamba, server, "polish", "a line of verse")
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "v2"  # the best rated after the one refinement allowed
    assert "more rhythm" in server.requests[2]["messages"][-1]["content"]


def test_plan_execute_through_the_command(mamba, server):
    server.add(
        {"text": "1. look\n2. answer"},
        {"text": "looked"},
        {"text": "answered"},
        {"text": "All done: 42"},
    )
    result = run_workflow(mamba, server, "plan-execute", "find the answer", "-o", "json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["result"] == "All done: 42"
    assert [s["type"] for s in data["steps"]] == ["plan", "execute", "execute", "answer"]
