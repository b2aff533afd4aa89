"""Where the CLI meets the engine: the agent options `run` and `chat` share, one money
formatter, why an answer stopped, and which modules the CLI may import."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import add_turn, run_mamba
from typer.testing import CliRunner

from mamba_cli import options
from mamba_cli.output import money

SRC = Path(__file__).parent.parent / "src"
SHARED = [field.name for field in dataclasses.fields(options.AgentFlags)]

# An answer the provider cut off at the output token limit.
CUT_OFF = {"text": "The answer is", "finish_reason": "length"}
CUT_OFF_WARNING = (
    "mamba: warning: the answer was cut off at the output token limit (raise --max-tokens)"
)


def click_params(name: str) -> dict[str, Any]:
    from mamba_cli.app import app

    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    return {param.name: param for param in command.params}


def describe(param: Any) -> tuple[Any, ...]:
    return (
        param.opts,
        param.secondary_opts,
        param.help,
        repr(param.type),
        param.default,
        param.multiple,
        param.is_flag,
    )


def test_run_and_chat_declare_the_same_agent_options():
    run, chat = click_params("run"), click_params("chat")
    assert set(SHARED) <= set(run) and set(SHARED) <= set(chat)
    assert set(chat) == set(SHARED)
    for name in SHARED:
        assert describe(run[name]) == describe(chat[name]), name
    assert run["continue_latest"].opts == ["--continue", "-c"]
    assert run["max_turns"].type.min == 1 and run["max_cost"].type.min == 0.0
    # `run` lists its own option where it always stood in --help.
    assert list(run)[:9] == [
        "prompt",
        "model",
        "base_url",
        "system",
        "append_system",
        "session",
        "continue_latest",
        "no_save",
        "output_format",
    ]
    assert list(run)[9:] == SHARED[7:]


def test_a_command_receives_the_options_as_one_flags_object():
    app = typer.Typer()
    seen: list[options.AgentFlags] = []

    @app.command()
    @options.agent_command()
    def probe(ctx: typer.Context, *, flags: options.AgentFlags, extra: int = 0) -> None:
        assert ctx.params["model"] == "a/b" and extra == 7
        seen.append(flags)

    argv = ["-m", "a/b", "-c", "--allow", "read_file", "--allow", "run_bash(git *)"]
    argv += ["--max-cost", "0.5", "--no-tools", "--extra", "7"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert seen == [
        options.AgentFlags(
            model="a/b",
            continue_latest=True,
            allow=("read_file", "run_bash(git *)"),
            max_cost=0.5,
            no_tools=True,
        )
    ]
    assert CliRunner().invoke(app, ["--max-tokens", "0"]).exit_code == 2


def test_a_command_must_take_flags_and_may_not_redeclare_a_shared_option():
    with pytest.raises(TypeError, match="no 'flags'"):
        options.agent_command()(lambda ctx: None)

    def clash(*, flags: options.AgentFlags, model: str = "") -> None: ...

    with pytest.raises(TypeError, match="model"):
        options.agent_command()(clash)


@pytest.mark.parametrize(
    ("command", "flag"), [("run", "--max-turns"), ("chat", "--max-tokens"), ("run", "--timeout")]
)
def test_option_limits_are_checked_for_both_commands(home, command, flag):
    result = run_mamba(
        command, flag, "-1", "prompt" if command == "run" else "--no-save", home=home
    )
    assert result.code == 2
    assert f"Invalid value for '{flag}'" in result.stderr


def test_money_has_one_format():
    assert money(0.00355) == "$0.0036"
    assert money(0) == "$0.0000"
    assert money(1234.5) == "$1,234.50"
    assert money(1234.5, places=4) == "$1,234.5000"
    assert money(0.5, places=2) == "$0.50"


def test_sessions_list_and_show_sum_every_request(home):
    from mamba_agents.store import Session, SessionStore

    session = Session(model="openai/gpt-4o")
    add_turn(session, "one")
    add_turn(session, "two")
    SessionStore().save(session)
    [row] = run_mamba("sessions", "list", "--json", home=home).json()
    assert row["usage"] == {
        "input_tokens": 20,
        "output_tokens": 4,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
    }
    assert row["cost_usd"] == 0.002 and row["cost_source"] == "estimated"
    listing = run_mamba("sessions", "list", home=home).stdout
    assert "$0.0020" in listing
    shown = run_mamba("sessions", "show", session.id, home=home).stdout
    assert "- tokens: 20 in, 4 out; cost $0.0020" in shown


def test_a_cut_off_answer_is_kept_with_a_warning(mamba, server):
    server.add(CUT_OFF)
    result = mamba("run", "tell me")
    assert result.code == 0
    assert result.stdout == "The answer is\n"
    assert CUT_OFF_WARNING in result.stderr.splitlines()


def test_the_result_object_says_why_the_model_stopped(mamba, server):
    server.add(CUT_OFF)
    cut = mamba("run", "tell me", "-o", "json")
    assert cut.json()["stop_reason"] == "max_tokens"
    assert CUT_OFF_WARNING in cut.stderr
    whole = mamba("run", "hello", "-o", "json")
    assert whole.json()["stop_reason"] == "end_turn"
    assert "cut off" not in whole.stderr


def test_the_result_object_always_has_a_stop_reason(mamba):
    data = mamba("run", "hello", "-o", "json").json()
    assert "stop_reason" in data


def test_stream_json_starts_with_exactly_one_init_line(mamba, server):
    result = mamba("run", "go", "-o", "stream-json")
    assert result.code == 0
    events = result.lines()
    assert [e["type"] for e in events].count("init") == 1
    assert events[0]["type"] == "init" and events[-1]["type"] == "result"
    assert events[0]["session_id"] == events[-1]["session_id"]


def test_retries_are_shown_on_stderr(mamba, server):
    server.add({"status": 500}, {"text": "fine"})
    result = mamba("run", "go")
    assert result.code == 0 and result.stdout == "fine\n"
    assert "retrying in " in result.stderr and "HTTP 500" in result.stderr


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def test_the_cli_imports_no_private_module_of_another_package():
    found = []
    for path in sorted((SRC / "mamba_cli").rglob("*.py")):
        module = ".".join(path.relative_to(SRC).with_suffix("").parts)
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] not in ("mamba_cli", "mamba_agents"):
                continue
            for index, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    owner = ".".join(parts[:index])
                    if not module.startswith(owner + "."):
                        found.append(f"{module} imports {name}")
                    break
    assert found == []


def test_chat_commands_do_not_import_the_repl():
    code = "import sys, mamba_cli.chat.commands; print('mamba_cli.chat.repl' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
