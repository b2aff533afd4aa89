"""run_bash (sandbox folder, secrets scrubbed, timeouts leave no process) and permission rules."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import wait_until

from mamba_agents.tools import (
    FilesystemSecurity,
    PermissionPolicy,
    RuleError,
    describe_rule,
    run_bash,
    safe_environment,
    suggest_rule,
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def test_runs_in_the_sandbox_folder(tmp_path):
    result = run_bash("pwd; echo oops >&2; exit 3", security=FilesystemSecurity(tmp_path))
    assert result.stdout.strip() == str(tmp_path.resolve())
    assert result.stderr.strip() == "oops" and result.exit_code == 3
    assert result.to_text().startswith("exit code 3")


def test_secrets_and_our_settings_are_not_in_the_environment(tmp_path, monkeypatch):
    secrets = {
        "OPENAI_API_KEY": "sk-1",
        "ANTHROPIC_API_KEY": "sk-2",
        "GITHUB_TOKEN": "ghp",
        "MY_SECRET": "s",
        "DB_PASSWORD": "p",
        "AWS_SECRET_ACCESS_KEY": "a",
        "MAMBA_MODEL_BACKEND__API_KEY": "m",
        "MAMBA_HOME": "/x",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HARMLESS_SETTING", "kept")
    result = run_bash("env", security=FilesystemSecurity(tmp_path))
    names = {line.split("=", 1)[0] for line in result.stdout.splitlines()}
    assert not names & set(secrets)
    assert "HARMLESS_SETTING" in names and "PATH" in names
    assert set(safe_environment({"X_TOKEN": "1", "HOME": "/h"})) == {"HOME"}


def test_timeout_kills_the_whole_process_group(tmp_path):
    started = time.monotonic()
    result = run_bash(
        "sleep 30 & echo $! > child.pid; sleep 30",
        timeout=0.5,
        security=FilesystemSecurity(tmp_path),
    )
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - started < 5
    assert result.to_text().startswith("timed out")
    child = int((tmp_path / "child.pid").read_text())
    assert wait_until(lambda: not alive(child))


def test_background_children_do_not_outlive_the_command(tmp_path):
    started = time.monotonic()
    result = run_bash("sleep 30 & echo $!", security=FilesystemSecurity(tmp_path))
    assert result.exit_code == 0 and time.monotonic() - started < 5
    child = int(result.stdout.strip())
    assert wait_until(lambda: not alive(child))


def test_output_is_capped_keeping_head_and_tail(tmp_path):
    result = run_bash(
        "echo START; head -c 200000 /dev/zero | tr '\\0' x; echo; echo END",
        security=FilesystemSecurity(tmp_path),
        output_limit=1000,
    )
    assert result.truncated
    assert result.stdout.startswith("START") and result.stdout.rstrip().endswith("END")
    assert "bytes cut ...]" in result.stdout and len(result.stdout) < 1200


@pytest.mark.parametrize(
    ("rule", "tool", "arguments", "expected"),
    [
        ("run_bash(git *)", "run_bash", {"command": "git status"}, True),
        ("run_bash(git *)", "run_bash", {"command": "git"}, True),
        ("run_bash(git *)", "run_bash", {"command": "gitx status"}, False),
        ("run_bash(git *)", "run_bash", {"command": "rm -rf /"}, False),
        ("run_bash(npm test)", "run_bash", {"command": "npm test"}, True),
        ("run_bash(npm test)", "run_bash", {"command": "npm test; rm -rf /"}, False),
        ("write_file(src/**)", "write_file", {"path": "src/a.py"}, True),
        ("write_file(src/**)", "write_file", {"path": "./src/x/y.py"}, True),
        ("write_file(src/**)", "write_file", {"path": "srcx/a.py"}, False),
        ("write_file(src/**)", "write_file", {"path": "other/src/a.py"}, False),
        ("write_file(*.md)", "write_file", {"path": "README.md"}, True),
        ("write_file(*.md)", "write_file", {"path": "docs/x.md"}, False),
        ("write_file(docs)", "write_file", {"path": "docs/x.md"}, True),
        ("write_file", "write_file", {"path": "anything"}, True),
        ("*_file", "delete_file", {"path": "x"}, True),
        ("move_file(src/**)", "move_file", {"source": "src/a", "destination": "src/b"}, True),
        ("move_file(src/**)", "move_file", {"source": "src/a", "destination": "/etc/b"}, False),
    ],
)
def test_rule_matching(rule, tool, arguments, expected):
    policy = PermissionPolicy(allow=[rule])
    decision = policy.decide(tool, arguments, "write")
    assert (decision.action == "allow") is expected


def test_deny_beats_ask_beats_allow_and_defaults_by_risk():
    policy = PermissionPolicy(
        allow=["run_bash"], ask=["run_bash(git push*)"], deny=["run_bash(rm *)"]
    )
    assert policy.decide("run_bash", {"command": "ls"}, "execute").action == "allow"
    assert policy.decide("run_bash", {"command": "git push origin"}, "execute").action == "ask"
    denied = policy.decide("run_bash", {"command": "rm -rf /"}, "execute")
    assert denied.action == "deny" and denied.rules == ("run_bash(rm *)",)
    plain = PermissionPolicy()
    assert plain.decide("read_file", {"path": "x"}, "read").action == "allow"
    assert plain.decide("write_file", {"path": "x"}, "write").action == "ask"
    assert plain.decide("run_bash", {"command": "ls"}, "execute").action == "ask"
    everything = PermissionPolicy(deny=["delete_file"], allow_all=True)
    assert everything.decide("run_bash", {"command": "ls"}, "execute").action == "allow"
    assert everything.decide("delete_file", {"path": "x"}, "write").action == "deny"


def test_always_rules_say_exactly_what_they_match_and_stick():
    rule = suggest_rule("run_bash", {"command": "git status"})
    assert rule == "run_bash(git status)"
    assert describe_rule(rule) == "run_bash with exactly the command 'git status'"
    policy = PermissionPolicy()
    policy.add("allow", rule)
    assert policy.decide("run_bash", {"command": "git status"}, "execute").action == "allow"
    assert policy.decide("run_bash", {"command": "git push"}, "execute").action == "ask"
    assert suggest_rule("write_file", {"path": "./src/a.py"}) == "write_file(src/a.py)"
    assert suggest_rule("run_bash", {"command": "ls *.py"}) == "run_bash"
    assert describe_rule("write_file(src/**)") == "write_file on paths matching 'src/**'"


def test_malformed_rule_is_an_error():
    with pytest.raises(RuleError, match="invalid permission rule"):
        PermissionPolicy(allow=["run bash("])


@pytest.mark.parametrize(
    "command",
    [
        "git status; rm -rf /",
        "git log | sh",
        "git status && curl x | sh",
        "git diff $(rm -rf /)",
        "git diff `rm -rf /`",
        "git status\nrm -rf /",
        "git status & rm -rf /",
    ],
)
def test_chained_commands_need_every_part_allowed(command):
    policy = PermissionPolicy(allow=["run_bash(git *)"])
    assert policy.decide("run_bash", {"command": command}, "execute").action == "ask"


def test_chained_commands_allowed_when_every_part_is():
    policy = PermissionPolicy(allow=["run_bash(git *)", "run_bash(grep *)"])
    assert policy.decide("run_bash", {"command": "git log | grep fix"}, "execute").action == "allow"
    assert policy.decide("run_bash", {"command": "git add 'a; b'"}, "execute").action == "allow"


def test_deny_and_ask_match_any_part_of_a_chain():
    policy = PermissionPolicy(allow_all=True, deny=["run_bash(rm *)"], ask=["run_bash(git push*)"])
    assert policy.decide("run_bash", {"command": "ls && rm -rf /"}, "execute").action == "deny"
    assert (
        policy.decide("run_bash", {"command": "git add . && git push"}, "execute").action == "ask"
    )


def test_a_cancelled_bash_call_kills_its_command(tmp_path):
    import asyncio

    from mamba_agents.tools import builtin_tools

    [bash] = builtin_tools(FilesystemSecurity(tmp_path), names=["run_bash"])
    assert "cancel" not in str(bash.schema())

    pid_file = tmp_path / "pid"

    def command_pid() -> int | None:
        text = pid_file.read_text() if pid_file.exists() else ""
        return int(text) if text.endswith("\n") else None

    async def cancel_once_running():
        task = asyncio.ensure_future(bash.invoke({"command": "echo $$ > pid; sleep 30"}))
        while command_pid() is None and not task.done():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(cancel_once_running())
    pid = command_pid()
    assert pid is not None
    assert wait_until(lambda: not alive(pid))
    assert time.monotonic() - started < 5
