"""MCP servers through the installed `mamba`: `run` and `chat` with real server processes
(the test server over stdio, HTTP and SSE, and `mcp-server-time`), approval of a folder's
servers, `mamba mcp ...`, and no process left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import (
    MAMBA,
    MCP_SERVER,
    live_processes,
    mamba_env,
    run_mamba,
    start_mamba,
    wait_until,
)
from terminal import Terminal

TIME_SERVER = str(Path(sys.executable).parent / "mcp-server-time")


def marker() -> str:
    return f"mcpcli-{uuid.uuid4().hex[:10]}"


def stdio_entry(name: str, kind: str = "normal") -> dict:
    return {"command": sys.executable, "args": [MCP_SERVER, "--kind", kind, "--name", name]}


def write_json(path: Path, servers: dict) -> Path:
    path.write_text(json.dumps({"mcpServers": servers}))
    return path


def tool_call(name: str, **arguments) -> dict:
    return {"tool_calls": [{"id": "call_1", "name": name, "arguments": arguments}]}


def tool_results(server) -> list[str]:
    return [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "tool"]


@pytest.fixture
def work(home) -> Path:
    return home / "work"


@pytest.mark.parametrize("transport", ["stdio", "http", "sse"])
def test_run_calls_an_mcp_tool_over_each_transport(mamba, server, work, web_servers, transport):
    name = marker()
    entry = (
        stdio_entry(name)
        if transport == "stdio"
        else {"type": transport, "url": web_servers[transport]}
    )
    config = write_json(work / "servers.json", {"calc": entry})
    server.add(tool_call("mcp__calc__add", a=40, b=2), {"text": "done"})
    result = mamba(
        "run", "add", "--mcp-config", str(config), "--allow", "mcp__calc__*", "-o", "json"
    )
    assert result.code == 0, result.stderr
    assert tool_results(server) == ["42"]
    assert "mcp__calc__add" in {t["function"]["name"] for t in server.requests[0]["tools"]}
    assert wait_until(lambda: not live_processes(name))


def test_a_third_party_server_from_the_user_config(mamba, server, home):
    (home / "config" / "mamba").mkdir(parents=True)
    (home / "config" / "mamba" / "config.toml").write_text(
        f'[mcp.servers.time]\ncommand = "{TIME_SERVER}"\nargs = ["--local-timezone", "UTC"]\n'
    )
    server.add(tool_call("mcp__time__get_current_time", timezone="UTC"), {"text": "noted"})
    result = mamba("run", "what time is it", "-o", "json")
    # The server marks its tools read-only: they run without an allow rule.
    assert result.code == 0 and result.json()["permission_denials"] == []
    [answer] = tool_results(server)
    assert json.loads(answer)["timezone"] == "UTC"


def test_mcp_tools_go_through_the_permission_rules(mamba, server, work):
    name = marker()
    config = write_json(work / "servers.json", {"calc": stdio_entry(name)})
    server.add(
        tool_call("mcp__calc__add", a=1, b=2),
        {"text": "refused"},
        tool_call("mcp__calc__peek"),
        {"text": "looked"},
    )
    result = mamba("run", "add", "--mcp-config", str(config), "-o", "json")
    [denial] = result.json()["permission_denials"]
    assert denial["tool"] == "mcp__calc__add"
    assert "--allow 'mcp__calc__add'" in tool_results(server)[0]
    result = mamba(
        "run", "peek", "--mcp-config", str(config), "--deny", "mcp__calc__peek", "-o", "json"
    )
    assert result.json()["permission_denials"][0]["tool"] == "mcp__calc__peek"


def test_failing_servers_are_one_line_each_and_the_others_work(mamba, server, work):
    good, dead = marker(), marker()
    config = write_json(
        work / "servers.json",
        {
            "calc": stdio_entry(good),
            "dead": stdio_entry(dead, "exit"),
            "missing": {"command": "no-such-mcp-server"},
        },
    )
    server.add(tool_call("mcp__calc__add", a=2, b=3), {"text": "done"})
    result = mamba(
        "run", "add", "--mcp-config", str(config), "--allow", "mcp__*", "-o", "stream-json"
    )
    assert result.code == 0 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "MCP server" in line]
    assert len(lines) == 2
    assert any(
        "'dead' failed" in line and "fatal: cannot open the database" in line for line in lines
    )
    assert any("'missing' failed: command not found: no-such-mcp-server" in line for line in lines)
    init = result.lines()[0]
    statuses = {s["name"]: s["status"] for s in init["mcp_servers"]}
    assert statuses == {"calc": "connected", "dead": "failed", "missing": "failed"}
    assert tool_results(server) == ["5"]
    assert (Path(mamba_env(work.parent)["MAMBA_HOME"]) / "logs" / "mcp-dead.log").is_file()


def test_a_server_crashing_mid_call_is_a_tool_error(mamba, server, work):
    name = marker()
    config = write_json(work / "servers.json", {"calc": stdio_entry(name)})
    server.add(tool_call("mcp__calc__crash"), {"text": "it broke"})
    result = mamba("run", "crash", "--mcp-config", str(config), "--allow", "mcp__*", "-o", "json")
    assert result.code == 0 and result.json()["result"] == "it broke"
    [error] = tool_results(server)
    assert error.startswith("Error: MCP server 'calc' failed") and "crashing now" in error


def test_a_stdio_server_gets_its_configured_environment_not_mambas_secrets(mamba, server, work):
    name = marker()
    entry = {**stdio_entry(name), "env": {"GREETING": "${MY_GREETING}"}}
    config = write_json(work / "servers.json", {"calc": entry})
    server.add(
        tool_call("mcp__calc__env", variable="OPENAI_API_KEY"),
        {"text": "1"},
        tool_call("mcp__calc__env", variable="GREETING"),
        {"text": "2"},
    )
    env = {"OPENAI_API_KEY": "sk-very-secret-value", "MY_GREETING": "bonjour"}
    args = ("--mcp-config", str(config), "--allow", "mcp__*")
    assert mamba("run", "key?", *args, env=env).code == 0
    assert tool_results(server) == ["<unset>"]
    assert mamba("run", "greeting?", *args, env=env).code == 0
    assert tool_results(server) == ["bonjour"]


def test_a_folders_servers_start_only_once_approved(mamba, server, work):
    name = marker()
    write_json(work / ".mcp.json", {"repo": stdio_entry(name)})
    server.add(tool_call("mcp__repo__echo", text="hi"), {"text": "done"})
    result = mamba("run", "echo", "--allow", "mcp__*", "-o", "stream-json")
    assert result.code == 0
    assert "MCP server 'repo'" in result.stderr and "mamba mcp approve repo" in result.stderr
    assert "not started" in result.stderr and not live_processes(name)
    [held] = result.lines()[0]["mcp_servers"]
    assert held["status"] == "not approved" and "mamba mcp approve repo" in held["error"]

    approved = mamba("mcp", "approve", "repo")
    assert approved.code == 0, approved.stderr
    server.add(tool_call("mcp__repo__echo", text="hi"), {"text": "done"})
    result = mamba("run", "echo", "--allow", "mcp__*")
    assert result.code == 0 and tool_results(server) == ["echo: hi"]

    # A changed entry is a different server: asked again.
    changed = stdio_entry(name)
    changed["args"].append("--port=1")
    write_json(work / ".mcp.json", {"repo": changed})
    result = mamba("run", "echo", "-o", "stream-json")
    assert "mamba mcp approve repo" in result.stderr
    assert result.lines()[0]["mcp_servers"][0]["status"] == "not approved"


def test_a_folder_cannot_replace_the_users_server(mamba, server, home, work):
    good = marker()
    (home / "config" / "mamba").mkdir(parents=True)
    (home / "config" / "mamba" / "config.toml").write_text(
        "[mcp.servers.calc]\n"
        f"command = {json.dumps(sys.executable)}\n"
        f"args = {json.dumps([MCP_SERVER, '--name', good])}\n"
    )
    write_json(work / ".mcp.json", {"calc": {"command": "evil-command"}})
    server.add(tool_call("mcp__calc__add", a=1, b=1), {"text": "ok"})
    result = mamba("run", "add", "--allow", "mcp__*", "-o", "stream-json")
    assert result.code == 0
    assert "ignored mcp.servers.calc" in result.stderr
    assert result.lines()[0]["mcp_servers"][0]["status"] == "connected"
    assert tool_results(server) == ["2"]


def test_no_server_outlives_a_timeout(home, server, work):
    name = marker()
    config = write_json(work / "servers.json", {"calc": stdio_entry(name)})
    server.add(tool_call("mcp__calc__sleep", seconds=60))
    args = ["run", "wait", "--mcp-config", str(config), "--allow", "mcp__*"]
    args += ["--model", "openai/gpt-4o", "--base-url", server.base_url]
    result = run_mamba(*args, "--timeout", "3", home=home)
    assert result.code == 124, result.stderr
    assert wait_until(lambda: not live_processes(name))


def test_chat_shows_servers_and_uses_their_prompts(home, server, work):
    name = marker()
    config = write_json(work / "servers.json", {"calc": stdio_entry(name)})
    args = ["chat", "--mcp-config", str(config), "--model", "openai/gpt-4o"]
    result = run_mamba(
        *args,
        "--base-url",
        server.base_url,
        home=home,
        stdin="/mcp\n/mcp__calc__greet Ann Lee\n/mcp reconnect calc\n",
    )
    assert result.code == 0, result.stderr
    assert "calc (stdio): connected" in result.stdout
    assert "mcp__calc__add" in result.stdout and "/mcp__calc__greet" in result.stdout
    user = [m for m in server.requests[-1]["messages"] if m["role"] == "user"]
    assert user[-1]["content"] == "Say hello to Ann Lee in French."
    assert result.stdout.count("calc (stdio): connected") == 2  # after the reconnect too
    assert wait_until(lambda: not live_processes(name))


def test_mcp_add_list_tools_remove(home, work):
    config_dir = home / "config" / "mamba"
    config_dir.mkdir(parents=True)
    hand_written = '# mine\n[mcp.servers.hand]\ncommand = "no-such-mcp-server"\n'
    (config_dir / "config.toml").write_text(hand_written)
    name = marker()
    added = run_mamba(
        "mcp", "add", "calc", "--env", "A=${B:-x}", "--", sys.executable, MCP_SERVER,
        "--name", name, home=home,
    )  # fmt: skip
    assert added.code == 0, added.stderr
    owned = (config_dir / "mcp-servers.toml").read_text()
    assert "[mcp.servers.calc]" in owned and '"--name"' in owned
    again = run_mamba("mcp", "add", "calc", "--", "x", home=home)
    assert again.code == 2 and "already exists" in again.stderr

    listed = run_mamba("mcp", "list", "--json", home=home)
    assert listed.code == 0, listed.stderr
    rows = {row["name"]: row for row in listed.json()}
    assert rows["calc"]["status"] == "connected" and rows["calc"]["tools"] == 9
    assert rows["calc"]["startup_seconds"] > 0
    assert rows["hand"]["status"] == "failed" and "command not found" in rows["hand"]["error"]
    text = run_mamba("mcp", "list", home=home).stdout
    assert "calc" in text and "connected" in text and "9 tools" in text

    tools = run_mamba("mcp", "tools", "calc", "--json", home=home)
    by_name = {tool["name"]: tool for tool in tools.json()}
    assert by_name["mcp__calc__add"]["input_schema"]["required"] == ["a", "b"]
    assert by_name["mcp__calc__peek"]["risk"] == "read"
    failed = run_mamba("mcp", "tools", "hand", home=home)
    assert failed.code == 1 and failed.stderr.startswith("mamba: MCP server 'hand' failed")

    refused = run_mamba("mcp", "remove", "hand", home=home)
    assert refused.code == 2 and "config.toml" in refused.stderr
    assert (config_dir / "config.toml").read_text() == hand_written
    assert run_mamba("mcp", "remove", "calc", home=home).code == 0
    assert "calc" not in (config_dir / "mcp-servers.toml").read_text()
    assert wait_until(lambda: not live_processes(name))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"servers": {}}', "expected"),
        ('{"mcpServers": {"x": {"type": "ws", "url": "http://h"}}}', "mcpServers.x.type"),
        ('{"mcpServers": {"x": {"args": ["a"]}}}', "needs a command (stdio) or a url"),
        ('{"mcpServers": {"x": {"url": "ftp://h"}}}', "needs an http(s) URL"),
        ('{"mcpServers": {"x": {"command": "a", "timeout": 1e400}}}', "above zero"),
        ('{"mcpServers": {"x": {"command": "a\\u0000b"}}}', "NUL"),
        ('{"mcpServers": {"x": {"command": "a", "env": {"A=B": "c"}}}}', "not a variable name"),
        ("[" * 100000 + "]" * 100000, "nested too deeply"),
        ('{"mcpServers": {"a_": {"command": "a"}}}', "server name"),
    ],
)
def test_a_bad_mcp_config_is_one_line_and_exit_2(mamba, work, content, message):
    (work / "bad.json").write_text(content)
    result = mamba("run", "hi", "--mcp-config", "bad.json")
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and "bad.json" in result.stderr
    assert message in result.stderr


def test_run_without_servers_imports_nothing_of_mcp(home, server):
    code = (
        "import sys\n"
        "from mamba_cli.main import run_app\n"
        f"code = run_app(['run', 'hi', '--no-save', '--model', 'openai/gpt-4o', "
        f"'--base-url', {server.base_url!r}])\n"
        "print(code, 'mcp' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=mamba_env(home),
        cwd=home / "work",
        check=True,
    )
    assert out.stdout.splitlines()[-1] == "0 False"


def test_a_server_that_ignores_the_end_of_its_input_is_killed_after_mamba_exits(mamba, work):
    # mamba does not wait for its servers to exit: a watchdog process sees them off.
    name = marker()
    entry = {**stdio_entry(name, "hang"), "startup_timeout": 1}
    config = write_json(work / "servers.json", {"stuck": entry})
    result = mamba("run", "hi", "--mcp-config", str(config))
    assert result.code == 0
    assert "MCP server 'stuck' failed: did not start within 1 s" in result.stderr
    assert wait_until(lambda: not live_processes(name), 15)


def test_chat_asks_once_about_a_folders_server_and_remembers(home, server, work):
    name = marker()
    write_json(work / ".mcp.json", {"repo": stdio_entry(name)})
    argv = [str(MAMBA), "chat", "-m", "openai/gpt-4o", "--base-url", server.base_url]
    env = mamba_env(home, TERM="xterm-256color")
    first = Terminal(argv, env, str(work))
    try:
        first.wait_for(r"Allow it \(remembered for this folder\)\? \[y/N\]")
        assert "MCP server 'repo'" in first.text().replace("\n", "")
        first.enter("y")
        first.wait_for(r"MCP: 1 server\(s\) connected, 9 tools")
        first.enter("/exit")
        assert first.wait_exit() == 0
    finally:
        first.close()
    assert wait_until(lambda: not live_processes(name))
    second = Terminal(argv, env, str(work))
    try:
        second.wait_for(r"MCP: 1 server\(s\) connected")
        assert "wants to start" not in second.text()
        second.enter("/exit")
        assert second.wait_exit() == 0
    finally:
        second.close()
    assert "repo" in (home / "config" / "mamba" / "mcp-approvals.toml").read_text()


def test_the_chat_shows_mcp_tool_names_as_written():
    # Underscores inside a word are not emphasis: `mcp__fs__read` must not lose them.
    import io

    from mamba_cli.chat.markdown_stream import MarkdownStream

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    stream = MarkdownStream(out, 100, color=True)
    stream.feed("I called mcp__fs__read_file and __this__ is strong.\n")
    stream.finish()
    text = out.getvalue()
    assert "mcp__fs__read_file" in text
    assert "__this__" not in text and "this" in text


def test_approving_a_folders_server_shows_what_it_gets(mamba, work):
    name = marker()
    entry = {**stdio_entry(name), "env": {"HELPER_TOKEN": "${OPENAI_API_KEY}"}, "cwd": "."}
    write_json(work / ".mcp.json", {"helper": entry})
    result = mamba("run", "hi", env={"OPENAI_API_KEY": "sk-test-secret-123456"})
    warning = next(line for line in result.stderr.splitlines() if "'helper'" in line)
    assert "env HELPER_TOKEN=${OPENAI_API_KEY}" in warning and "in ." in warning
    assert "reads your secrets: OPENAI_API_KEY" in warning
    assert "sk-test-secret" not in result.stderr
    approved = mamba("mcp", "approve", "helper")
    assert "env HELPER_TOKEN=${OPENAI_API_KEY}" in approved.stderr
    assert "reads your secrets: OPENAI_API_KEY" in approved.stderr


def test_a_timeout_while_servers_start_ends_the_run_with_its_result(mamba, work):
    name = marker()
    config = write_json(work / "servers.json", {"slow": stdio_entry(name, "hang")})
    result = mamba("run", "hi", "--mcp-config", str(config), "--timeout", "2", "-o", "json")
    assert result.code == 124, result.stderr
    data = result.json()
    assert data["status"] == "timeout" and data["num_turns"] == 0
    assert "stopped:" in result.stderr
    assert wait_until(lambda: not live_processes(name), 15)


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_ends_a_run_and_its_servers(home, server, work, signal_number):
    name = marker()
    config = write_json(work / "servers.json", {"calc": stdio_entry(name)})
    server.add(tool_call("mcp__calc__sleep", seconds=60))
    args = ["run", "wait", "--mcp-config", str(config), "--allow", "mcp__*"]
    proc = start_mamba(home, *args, "--model", "openai/gpt-4o", "--base-url", server.base_url)
    try:
        assert wait_until(lambda: server.requests and live_processes(name), 30)
        proc.send_signal(signal_number)
        assert proc.wait(timeout=30) == 130
    finally:
        proc.kill()
        proc.communicate()
    assert wait_until(lambda: not live_processes(name))
