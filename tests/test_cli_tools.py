"""Tools through the installed `mamba`: the scripted model asks for calls, the runtime decides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import live_processes, run_mamba


def tool_call(name: str, **arguments) -> dict:
    return {"tool_calls": [{"id": "call_1", "name": name, "arguments": arguments}]}


def last_tool_result(server) -> str:
    messages = server.requests[-1]["messages"]
    return next(m for m in reversed(messages) if m["role"] == "tool")["content"]


@pytest.fixture
def work(home) -> Path:
    folder = home / "work"
    (folder / "notes.txt").write_text("the notes\n")
    return folder


def test_read_only_tools_run_by_default(mamba, server, work):
    server.add(tool_call("read_file", path="notes.txt"), {"text": "done"})
    result = mamba("run", "read my notes", "-o", "json")
    assert result.code == 0 and result.json()["permission_denials"] == []
    assert last_tool_result(server) == "the notes\n"
    assert "read_file" in result.stderr  # progress line on stderr


def test_write_is_refused_without_permission_and_listed(mamba, server, work):
    server.add(tool_call("write_file", path="out.txt", content="hi"), {"text": "could not"})
    result = mamba("run", "write it", "-o", "json")
    data = result.json()
    assert result.code == 0 and data["result"] == "could not"
    assert not (work / "out.txt").exists()
    [denial] = data["permission_denials"]
    assert denial["tool"] == "write_file" and denial["arguments"]["path"] == "out.txt"
    assert "--allow 'write_file(out.txt)'" in last_tool_result(server)


def test_allow_flag_permits_writes(mamba, server, work):
    server.add(tool_call("write_file", path="out.txt", content="hi"), {"text": "ok"})
    result = mamba("run", "write it", "--allow", "write_file", "-o", "json")
    assert result.code == 0 and result.json()["permission_denials"] == []
    assert (work / "out.txt").read_text() == "hi"


def test_bash_pattern_rules(mamba, server, work):
    server.add(
        tool_call("run_bash", command="echo hello"),
        {"text": "1"},
        tool_call("run_bash", command="echo hello; touch pwned"),
        {"text": "2"},
    )
    mamba("run", "echo", "--allow", "run_bash(echo *)")
    assert "hello" in last_tool_result(server)
    result = mamba("run", "sneak", "--allow", "run_bash(echo *)", "-o", "json")
    assert len(result.json()["permission_denials"]) == 1
    assert not (work / "pwned").exists()


def test_deny_beats_allow_all(mamba, server, work):
    server.add(tool_call("delete_file", path="notes.txt"), {"text": "no"})
    result = mamba("run", "delete", "--allow-all", "--deny", "delete_file", "-o", "json")
    assert result.json()["permission_denials"][0]["tool"] == "delete_file"
    assert (work / "notes.txt").exists()
    assert "deny rule delete_file" in last_tool_result(server)


def test_no_tools_offers_none(mamba, server):
    mamba("run", "hi", "--no-tools")
    assert "tools" not in server.requests[0]
    mamba("run", "hi")
    assert {t["function"]["name"] for t in server.requests[1]["tools"]} >= {"read_file", "run_bash"}


@pytest.mark.parametrize("path", ["../secret.txt", "/etc/hostname", "link/secret.txt"])
def test_escapes_come_back_as_tool_errors_and_the_run_goes_on(mamba, server, home, work, path):
    (home / "secret.txt").write_text("SECRET")
    (work / "link").symlink_to(home)
    server.add(tool_call("read_file", path=path), {"text": "refused, fine"})
    result = mamba("run", "read it", "-o", "json")
    assert result.code == 0 and result.json()["result"] == "refused, fine"
    content = last_tool_result(server)
    assert content.startswith("Error: sandbox:") and "SECRET" not in content


def test_sandbox_flag_sets_the_base_directory(mamba, server, home, work):
    box = home / "box"
    box.mkdir()
    (box / "inside.txt").write_text("in the box")
    server.add(
        tool_call("read_file", path="inside.txt"),
        {"text": "ok"},
        tool_call("read_file", path="../work/notes.txt"),
        {"text": "ok"},
    )
    mamba("run", "read", "--sandbox", str(box))
    assert last_tool_result(server) == "in the box"
    mamba("run", "escape", "--sandbox", str(box))
    assert "outside" in last_tool_result(server)
    missing = mamba("run", "x", "--sandbox", str(home / "nope"))
    assert missing.code == 2 and "--sandbox: no such directory" in missing.stderr


def test_bash_environment_has_no_secrets(mamba, server, work):
    server.add(tool_call("run_bash", command="env"), {"text": "ok"})
    result = mamba(
        "run",
        "env",
        "--allow",
        "run_bash(env)",
        env={"OPENAI_API_KEY": "sk-should-not-leak", "MAMBA_MODEL_BACKEND__API_KEY": "sk-nor-this"},
    )
    assert result.code == 0
    listing = last_tool_result(server)
    assert "sk-should-not-leak" not in listing and "sk-nor-this" not in listing
    assert "PATH=" in listing


def test_bash_timeout_from_config_leaves_no_process(mamba, server, work):
    marker = "171.4242"
    server.add(tool_call("run_bash", command=f"sleep {marker}"), {"text": "ok"})
    result = mamba("run", "sleep", "--allow", "run_bash", env={"MAMBA_TOOLS__BASH_TIMEOUT": "0.5"})
    assert result.code == 0 and last_tool_result(server).startswith("timed out")
    assert live_processes(marker) == []


def test_permission_rules_from_config(mamba, server, home, work):
    (work / "config.toml").write_text('[permissions]\nallow = ["write_file(docs/**)"]\n')
    assert mamba("trust").code == 0
    server.add(
        tool_call("write_file", path="docs/a.md", content="A"),
        {"text": "1"},
        tool_call("write_file", path="b.md", content="B"),
        {"text": "2"},
    )
    mamba("run", "docs")
    assert (work / "docs" / "a.md").read_text() == "A"
    result = mamba("run", "root", "-o", "json")
    assert not (work / "b.md").exists() and result.json()["permission_denials"]


def test_bad_rule_in_config_is_a_usage_error(mamba, work):
    (work / "config.toml").write_text('[permissions]\ndeny = ["run bash("]\n')
    result = mamba("run", "x")
    assert result.code == 2 and "config.toml: permissions.deny" in result.stderr


def test_tools_list_and_permissions_check(home):
    listed = run_mamba("tools", "list", "--json", home=home).json()
    risks = {row["name"]: (row["risk"], row["decision"]) for row in listed}
    assert risks["read_file"] == ("read", "allow")
    assert risks["write_file"] == ("write", "ask")
    assert risks["run_bash"] == ("execute", "ask")
    assert len(listed) == 12
    checked = run_mamba(
        "permissions",
        "check",
        "run_bash(git status)",
        "--json",
        home=home,
        env={"MAMBA_PERMISSIONS__ALLOW": '["run_bash(git *)"]'},
    )
    data = json.loads(checked.stdout)
    assert data["decision"] == "allow"
    assert data["rules"] == [
        {
            "rule": "run_bash(git *)",
            "matches": "run_bash with a command matching 'git *'",
            "source": "environment",
        }
    ]
    text = run_mamba("permissions", "check", "write_file(src/a.py)", home=home).stdout
    assert text.startswith("ask: write tools need permission")


def test_tool_progress_is_not_on_stdout(mamba, server, work):
    server.add(tool_call("read_file", path="notes.txt"), {"text": "final answer"})
    result = mamba("run", "read")
    assert result.stdout == "final answer\n"
    assert "read_file" in result.stderr and "read_file" not in result.stdout
