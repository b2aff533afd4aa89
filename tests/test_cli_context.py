"""Compaction through the installed `mamba`: before a turn in `run`, and `/compact` in the
chat, against the scripted model server."""

from __future__ import annotations

import pytest


@pytest.fixture
def small_context(home):
    folder = home / "config" / "mamba"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(
        '[context]\nstrategy = "sliding_window"\ntrigger_threshold_tokens = 300\n'
        "target_tokens = 150\npreserve_recent_turns = 1\n"
    )


def test_a_long_conversation_is_compacted_before_the_turn(mamba, server, small_context):
    compactions = []
    for n in range(6):
        continued = ["-c"] if n else []
        result = mamba("run", *continued, f"turn {n}: " + "words " * 40, "-o", "stream-json")
        assert result.code == 0, result.stderr
        lines = result.lines()
        assert lines[0]["type"] == "init" and lines[-1]["type"] == "result"
        if lines[1]["type"] == "compaction":
            compactions.append(lines[1])
            # The request after it carried only the kept turn and the new prompt.
            assert len(server.requests[-1]["messages"]) <= 3
    assert compactions, "six long turns against a 300-token trigger never compacted"
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
