"""`mamba run` end to end: the installed command against the scripted model server."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from conftest import MAMBA, mamba_env, run_mamba, session_files, start_mamba, wait_for_request


def test_answer_on_stdout_and_only_the_answer(mamba, home):
    result = mamba("run", "hello there")
    assert result.code == 0
    assert result.stdout == "You said: hello there\n"
    assert "\033[" not in result.stdout + result.stderr  # no ANSI when not a terminal


def test_piped_stdin_is_context_for_the_instruction(mamba, server):
    result = mamba("run", "summarize", stdin="line one\nline two\n")
    assert result.code == 0
    sent = server.requests[0]["messages"][-1]["content"]
    assert sent.startswith("summarize") and "line one\nline two" in sent


def test_dash_reads_the_prompt_from_stdin_only(mamba, server):
    result = mamba("run", "-", stdin="what is up")
    assert result.code == 0
    assert server.requests[0]["messages"][-1]["content"] == "what is up"


def test_no_prompt_is_a_usage_error(home):
    result = run_mamba("run", home=home)
    assert result.code == 2
    assert (
        result.stderr.strip()
        == "mamba: no prompt: give PROMPT as an argument or pipe text on stdin"
    )


def test_json_result_object(mamba, server, home):
    server.add(
        {
            "text": "forty-two",
            "usage": {
                "prompt_tokens": 1000,
                "completion_tokens": 100,
                "prompt_tokens_details": {"cached_tokens": 400},
            },
        }
    )
    result = mamba("run", "answer?", "-o", "json")
    assert result.code == 0
    data = result.json()
    assert data["status"] == "success" and data["result"] == "forty-two"
    assert data["num_turns"] == 1
    assert data["usage"] == {
        "input_tokens": 600,
        "output_tokens": 100,
        "cache_read_tokens": 400,
        "cache_write_tokens": 0,
    }
    # gpt-4o: 2.5e-6 input, 1e-5 output, 1.25e-6 cached input.
    assert abs(data["cost_usd"] - (600 * 2.5e-6 + 100 * 1e-5 + 400 * 1.25e-6)) < 1e-9
    assert data["cost_source"] == "estimated"
    assert data["permission_denials"] == [] and data["error"] is None
    assert set(data) >= {"session_id", "state_id", "duration_ms"}
    [path] = session_files(home)
    saved = json.loads(path.read_text())
    assert saved["id"] == data["session_id"] and saved["head"] == data["state_id"]


def test_stream_json_events_then_result(mamba, server):
    server.add({"text": "streamed answer", "chunks": 3})
    result = mamba("run", "go", "-o", "stream-json")
    assert result.code == 0
    events = result.lines()
    assert events[0]["type"] == "init" and events[0]["model"] == "openai/gpt-4o"
    deltas = [e["text"] for e in events if e["type"] == "text_delta"]
    assert len(deltas) == 3 and "".join(deltas) == "streamed answer"
    assert any(e["type"] == "usage" for e in events)
    assert events[-1]["type"] == "result" and events[-1]["result"] == "streamed answer"


def test_provider_error_exits_1_with_one_line(mamba, server):
    server.add({"status": 400, "message": "bad request from test"})
    result = mamba("run", "x")
    assert result.code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "bad request from test" in result.stderr
    assert "Traceback" not in result.stderr


def test_auth_error_names_the_variable(mamba, server):
    server.add({"status": 401, "message": "invalid key"})
    result = mamba("run", "x", "-o", "json")
    assert result.code == 1
    data = result.json()
    assert data["status"] == "error" and "OPENAI_API_KEY" in data["error"]
    assert len(server.requests) == 1  # never retried


def test_max_turns_exits_3(mamba, server):
    server.add({"tool_calls": [{"name": "nothing", "arguments": {}}]})
    result = mamba("run", "loop", "--max-turns", "1", "-o", "json")
    assert result.code == 3
    assert result.json()["status"] == "max_turns"


def test_max_cost_exits_4(mamba, server):
    server.add(
        {
            "tool_calls": [{"name": "nothing", "arguments": {}}],
            "usage": {"prompt_tokens": 100000, "completion_tokens": 10},
        }
    )
    result = mamba("run", "spend", "--max-cost", "0.01", "-o", "json")
    assert result.code == 4
    data = result.json()
    assert data["status"] == "max_cost" and data["cost_usd"] >= 0.01
    assert len(server.requests) == 1


def test_timeout_exits_124_and_keeps_the_session_valid(mamba, server, home):
    server.add({"text": "too late", "delay": 3})
    started = time.monotonic()
    result = mamba("run", "slow", "--timeout", "0.5")
    assert result.code == 124
    assert time.monotonic() - started < 3
    assert "timed out" in result.stderr
    for path in session_files(home):
        json.loads(path.read_text())


def test_interrupt_exits_130_and_saves_a_valid_session(home, server):
    server.add({"text": "never", "delay": 5})
    proc = start_mamba(home, "run", "wait", "-m", "gpt-4o", "--base-url", server.base_url)
    wait_for_request(server)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert "Traceback" not in err
    [path] = session_files(home)
    data = json.loads(path.read_text())
    assert data["states"][-1]["status"] == "interrupted"


def test_continue_latest_session(mamba, server, home):
    first = mamba("run", "my name is Ada", "-o", "json").json()
    second = mamba("run", "-c", "what is my name?", "-o", "json").json()
    assert second["session_id"] == first["session_id"]
    sent = [m["content"] for m in server.requests[1]["messages"] if m["role"] != "system"]
    assert sent == ["my name is Ada", "You said: my name is Ada", "what is my name?"]
    assert len(session_files(home)) == 1


def test_session_by_prefix(mamba, server):
    first = mamba("run", "one", "-o", "json").json()
    mamba("run", "unrelated", "-o", "json")
    again = mamba("run", "--session", first["session_id"][:8], "two", "-o", "json").json()
    assert again["session_id"] == first["session_id"]
    assert (
        next(m["content"] for m in server.requests[2]["messages"] if m["role"] == "user") == "one"
    )


def test_older_state_forks_and_leaves_the_original_unchanged(mamba, server, home):
    first = mamba("run", "turn one", "-o", "json").json()
    mamba("run", "-c", "turn two", "-o", "json")
    [original] = session_files(home)
    before = original.read_bytes()
    forked = mamba("run", "--session", first["state_id"], "branch", "-o", "json").json()
    assert forked["session_id"] != first["session_id"]
    assert original.read_bytes() == before
    sent = [m["content"] for m in server.requests[-1]["messages"] if m["role"] != "system"]
    assert sent == ["turn one", "You said: turn one", "branch"]
    fork_file = next(p for p in session_files(home) if p != original)
    data = json.loads(fork_file.read_text())
    assert data["forked_from"] == {"session_id": first["session_id"], "state_id": first["state_id"]}


def test_no_save_writes_nothing(mamba, home):
    result = mamba("run", "private", "--no-save", "-o", "json")
    assert result.code == 0 and result.json()["session_id"] is None
    assert session_files(home) == []


def test_api_key_never_reaches_files_or_output(mamba, server, home):
    secret = "sk-test-SECRET-0123456789"
    result = mamba("-v", "run", "hi", "-o", "json", env={"OPENAI_API_KEY": secret})
    assert result.code == 0
    assert server.headers[0]["authorization"] == f"Bearer {secret}"
    assert secret not in result.stdout + result.stderr
    for path in session_files(home):
        assert secret not in path.read_text()
    shown = run_mamba("config", "show", home=home, env={"MAMBA_MODEL_BACKEND__API_KEY": secret})
    assert secret not in shown.stdout and "****" in shown.stdout


def test_system_prompt_flag_reaches_every_request(mamba, server):
    server.add({"tool_calls": [{"name": "nothing", "arguments": {}}]}, {"text": "done"})
    mamba("run", "x", "--system", "You are terse.")
    assert len(server.requests) == 2
    for body in server.requests:
        assert body["messages"][0] == {"role": "system", "content": "You are terse."}


def test_temperature_and_max_tokens_are_sent(mamba, server):
    mamba("run", "x", "--temperature", "0.25", "--max-tokens", "77")
    assert server.requests[0]["temperature"] == 0.25
    assert server.requests[0]["max_tokens"] == 77


def test_default_model_unreachable_says_how_to_choose(home):
    result = run_mamba(
        "run", "hello", home=home, env={"MAMBA_MODEL_BACKEND__BASE_URL": "http://127.0.0.1:9/v1"}
    )
    assert result.code == 1
    assert "ollama/llama3.2" in result.stderr and "--model" in result.stderr
    assert result.stderr.count("\n") == 1


def test_nothing_configured_uses_ollama_default(home):
    result = run_mamba("run", "hello", "-o", "json", home=home)
    data = result.json()
    assert result.code == 1 and data["model"] == "ollama/llama3.2"
    assert "localhost:11434" in data["error"]


def test_bad_output_format_is_usage_error(mamba):
    result = mamba("run", "x", "-o", "yaml")
    assert result.code == 2 and "--output-format" in result.stderr


def test_unknown_session_is_an_error(mamba):
    result = mamba("run", "--session", "nope", "x")
    assert result.code == 1 and "no session or state matches 'nope'" in result.stderr


def test_unwritable_session_folder_is_a_clear_error(home, server):
    (home / "data").write_text("not a folder")
    result = run_mamba("run", "hi", "-m", "gpt-4o", "--base-url", server.base_url, home=home)
    assert result.code == 1
    assert result.stdout == "You said: hi\n"  # the answer is not lost
    assert result.stderr.startswith("mamba: cannot save session")

    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_litellm_transport_through_the_command(mamba, server):
    server.add({"text": "via litellm", "usage": {"prompt_tokens": 10, "completion_tokens": 3}})
    result = mamba(
        "run",
        "hi",
        "-o",
        "json",
        env={"MAMBA_MODEL_BACKEND__TRANSPORT": "litellm", "OPENAI_API_KEY": "sk-test"},
    )
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["result"] == "via litellm" and data["usage"]["input_tokens"] == 10
    assert server.headers[0]["authorization"] == "Bearer sk-test"


def test_a_missing_key_is_said_whole_before_any_request(home, server):
    for model, variable in (
        ("anthropic/claude-3-5-haiku-latest", "ANTHROPIC_API_KEY"),
        ("gpt-4o", "OPENAI_API_KEY"),
    ):
        result = run_mamba("run", "hi", "--model", model, home=home, timeout=20)
        assert result.code == 1 and result.stdout == ""
        assert result.stderr.strip().splitlines() == [
            f"mamba: {model if '/' in model else 'openai/' + model}: no API key; set {variable} "
            "(or MAMBA_MODEL_BACKEND__API_KEY, or model_backend.api_key in the config)"
        ]
    # A proxy of one's own may need no key.
    proxied = run_mamba(
        "run", "hi", "--model", "openai/gpt-4o", "--base-url", server.base_url, home=home
    )
    assert proxied.code == 0 and proxied.stdout == "You said: hi\n"


@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
def test_input_that_is_not_utf8_is_sent_with_replacement_characters(server, home, locale):
    env = mamba_env(home, LC_ALL=locale, LANG=locale)
    proc = subprocess.run(
        [str(MAMBA), "run", "-m", "openai/gpt-4o", "--base-url", server.base_url,
         b"sum caf\xe9 up"],
        input=b"na\xefve latin-1 log\n",
        capture_output=True,
        env=env,
        cwd=home / "work",
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sent = server.requests[-1]["messages"][-1]["content"]
    assert sent == "sum caf\ufffd up\n\nna\ufffdve latin-1 log\n"
    chat = subprocess.run(
        [str(MAMBA), "chat", "-m", "openai/gpt-4o", "--base-url", server.base_url],
        input=b"caf\xe9?\n",
        capture_output=True,
        env=env,
        cwd=home / "work",
        timeout=60,
    )
    assert chat.returncode == 0 and "You said: caf\ufffd?" in chat.stdout.decode()
