"""Compaction through the installed `mamba`: before a turn in `run`, and `/compact` in the
chat, against the scripted model server."""

from __future__ import annotations

import pytest


def user_config(home, text: str) -> None:
    folder = home / "config" / "mamba"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(text)


@pytest.fixture
def small_context(home):
    # The built-in tools' schemas take about 1,300 tokens of every request.
    user_config(
        home,
        '[context]\nstrategy = "sliding_window"\ntrigger_threshold_tokens = 1750\n'
        "target_tokens = 1600\npreserve_recent_turns = 1\n",
    )


def test_a_long_conversation_is_compacted_before_the_turn(mamba, server, small_context):
    compactions = []
    for n in range(6):
        continued = ["-c"] if n else []
        prompt = f"turn {n}: " + "words " * 40
        result = mamba("run", *continued, prompt, "-s", "Be brief.", "-o", "stream-json")
        assert result.code == 0, result.stderr
        lines = result.lines()
        assert lines[0]["type"] == "init" and lines[-1]["type"] == "result"
        if lines[1]["type"] == "compaction":
            compactions.append(lines[1])
            # The request after it carried less than the last answer and this prompt added.
            grown = len(server.requests[-2]["messages"]) + 2
            assert len(server.requests[-1]["messages"]) < grown
    assert compactions, "six long turns against a 1,750-token trigger never compacted"
    first = compactions[0]
    assert first["strategy"] == "sliding_window" and first["removed_count"] > 0
    assert first["tokens_after"] < first["tokens_before"] and first["reached_target"]
    shown = [mamba("run", "-c", f"more {n}: " + "words " * 60).stderr for n in range(3)]
    assert any("compacted" in text and "tokens" in text for text in shown)


def test_chat_compact_preview_and_compact(mamba, server, small_context):
    for n in range(4):
        assert mamba("run", *(["-c"] if n else []), f"turn {n}: " + "words " * 20).code == 0
    session = mamba("sessions", "list", "--json").json()[0]["id"]
    result = mamba(
        "chat",
        "--session",
        session,
        "--model",
        "openai/gpt-4o",
        "--base-url",
        server.base_url,
        stdin="/compact preview\n/compact prompt\n/compact\n/compact\n",
    )
    assert result.code == 0, result.stderr
    assert "sliding_window would fold or drop" in result.stdout
    assert "Files and names" in result.stdout  # the summary prompt, readable
    assert "compacted" in result.stdout and "/rewind 1" in result.stdout
    assert "nothing to compact" in result.stdout  # the second time


@pytest.mark.parametrize("shape", ["openai", "llamacpp"])
def test_run_compacts_and_retries_when_the_provider_says_too_long(mamba, server, home, shape):
    # gpt-4o's window is 128k in the model facts; this server holds far less.
    for n in range(6):
        assert mamba("run", *(["-c"] if n else []), f"turn {n}: " + "words " * 150).code == 0
    server.context_window, server.context_error = 2500, shape  # the tool schemas take ~1.4k
    result = mamba("run", "-c", "and now?", "-o", "stream-json")
    assert result.code == 0, result.stderr
    kinds = [line["type"] for line in result.lines()]
    assert "compaction" in kinds and kinds[-1] == "result"
    assert result.lines()[-1]["result"] == "You said: and now?"
    turn = [r for r in server.requests if r["messages"][-1]["content"] == "and now?"]
    refused, accepted = turn  # sent once more, after compacting
    assert len(accepted["messages"]) < len(refused["messages"])


def test_a_prompt_larger_than_the_window_is_a_one_line_error(mamba, server):
    server.context_window = 300
    result = mamba("run", "words " * 400)
    assert result.code == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "the window holds 300" in result.stderr and "compaction could not help" in result.stderr


def test_a_large_tool_result_is_cut_for_the_model_and_kept_whole(mamba, server, home):
    user_config(home, "[context]\ntool_result_max_tokens = 100\n")
    big = home / "work" / "big.txt"
    big.write_text("".join(f"line {n}\n" for n in range(2000)))
    prompt = f'CALL read_file {{"path": "{big}"}}'
    result = mamba("run", prompt, "--allow", "read_file")
    assert result.code == 0, result.stderr
    sent = next(m for m in server.requests[-1]["messages"] if m["role"] == "tool")
    assert "cut to fit the context window" in sent["content"] and "line 0" in sent["content"]
    assert "line 1999" in sent["content"] and "line 1000\n" not in sent["content"]
    session = mamba("sessions", "list", "--json").json()[0]["id"]
    exported = mamba("sessions", "export", session, "-f", "json").json()
    whole = next(m for m in exported["messages"] if m["role"] == "tool")
    assert "line 1000\n" in whole["full_content"]


def test_a_200_turn_chat_against_a_small_window_runs_to_the_end(mamba, server, home):
    user_config(
        home,
        '[models."openai/gpt-4o"]\ncontext_window = 4000\n'
        '[context]\nstrategy = "hybrid"\npreserve_recent_turns = 2\n',
    )
    server.context_window = 4000
    prompts = [f"message {n}: " + "some words here " * 30 for n in range(200)]
    result = mamba(
        "chat",
        "--model",
        "openai/gpt-4o",
        "--base-url",
        server.base_url,
        stdin="\n".join(prompts) + "\n",
        timeout=240,
    )
    assert result.code == 0, result.stderr[-2000:]
    assert "error" not in (result.stderr + result.stdout).lower()
    for n in (0, 99, 199):
        assert f"You said: message {n}:" in result.stdout
    assert server.refused == 0  # compaction kept every request inside the window
    session = mamba("sessions", "list", "--json").json()[0]["id"]
    shown = mamba("sessions", "show", session).stdout
    assert "## Compactions" in shown and "compacted (hybrid)" in shown
    # Every prompt is still in the file.
    exported = mamba("sessions", "export", session, "-f", "json").json()
    texts = {m["content"] for m in exported["messages"] if m["role"] == "user"}
    assert {p.strip() for p in prompts} <= texts


def test_a_long_run_of_tool_calls_is_compacted_between_steps(mamba, server, home):
    user_config(
        home,
        '[context]\nstrategy = "selective_pruning"\ntrigger_threshold_tokens = 2500\n'
        "target_tokens = 1200\npreserve_recent_turns = 1\n",
    )
    notes = home / "work" / "notes.txt"
    notes.write_text("a line of notes\n" * 120)
    call = {"tool_calls": [{"name": "read_file", "arguments": {"path": str(notes)}}]}
    server.add(*[call] * 8, {"text": "read it all"})
    result = mamba("run", "read the notes again and again", "--allow", "read_file",
                   "-o", "stream-json")  # fmt: skip
    assert result.code == 0, result.stderr
    kinds = [line["type"] for line in result.lines()]
    assert kinds[-1] == "result" and result.lines()[-1]["result"] == "read it all"
    assert "compaction" in kinds and kinds.index("compaction") > kinds.index("tool_result")
    assert all(len(r["messages"]) < 16 for r in server.requests[-3:])
    session = mamba("sessions", "list", "--json").json()[0]["id"]
    assert "## Compactions" in mamba("sessions", "show", session).stdout
