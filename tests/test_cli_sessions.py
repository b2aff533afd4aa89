"""`mamba sessions` and the global options, through the installed command."""

from __future__ import annotations

import json

from conftest import run_mamba, session_files


def test_list_show_export_delete(mamba, home):
    first = mamba("run", "first question", "-o", "json").json()
    mamba("run", "second question", "-o", "json")
    listing = mamba("sessions", "list")
    assert listing.code == 0
    lines = listing.stdout.splitlines()
    assert len(lines) == 2 and "second question" in lines[0] and "first question" in lines[1]
    assert lines[1].startswith(first["session_id"][:8])

    rows = mamba("sessions", "list", "--json").json()
    assert [r["title"] for r in rows] == ["second question", "first question"]
    assert rows[1]["messages"] == 2 and rows[1]["usage"]["input_tokens"] > 0

    shown = mamba("sessions", "show", first["session_id"][:8])
    assert "## User" in shown.stdout and "You said: first question" in shown.stdout
    shown_json = mamba("sessions", "show", first["session_id"], "--json").json()
    assert [m["role"] for m in shown_json["messages"]] == ["user", "assistant"]

    markdown = mamba("sessions", "export", first["session_id"], "--format", "markdown")
    assert markdown.stdout.startswith("# first question")
    exported = mamba("sessions", "export", first["session_id"], "--format", "json").json()
    assert exported["format"] == "mamba.session" and exported["id"] == first["session_id"]
    target = home / "out.md"
    mamba("sessions", "export", first["session_id"][:8], "-o", str(target))
    assert target.read_text().startswith("# first question")

    deleted = mamba("sessions", "delete", first["session_id"])
    assert deleted.code == 0 and "deleted session" in deleted.stderr
    assert len(session_files(home)) == 1
    missing = mamba("sessions", "show", first["session_id"])
    assert missing.code == 1 and missing.stderr.startswith("mamba: no session or state")


def test_damaged_file_is_warned_about_and_skipped(mamba, home):
    mamba("run", "good one")
    (home / "data" / "sessions" / "broken.json").write_text("{oops")
    listing = mamba("sessions", "list", "--json")
    assert listing.code == 0 and len(listing.json()) == 1
    assert "broken.json" in listing.stderr and "damaged" in listing.stderr


def test_export_bad_format_is_usage_error(mamba):
    mamba("run", "x")
    result = mamba("sessions", "export", "-f", "pdf", "x")
    assert result.code == 2 and "--format" in result.stderr


def test_empty_listing(home):
    result = run_mamba("sessions", "list", "--json", home=home)
    assert result.code == 0 and json.loads(result.stdout) == []


def test_quiet_hides_progress_and_verbose_shows_debug(mamba):
    normal = mamba("run", "hi")
    assert "session " in normal.stderr
    quiet = mamba("-q", "run", "hi")
    assert quiet.stderr == "" and quiet.stdout == "You said: hi\n"
    verbose = mamba("-v", "run", "hi")
    assert "DEBUG mamba_agents.backends: POST" in verbose.stderr


def test_verbose_shows_traceback_on_internal_errors_only_when_asked(home):
    bad = run_mamba("sessions", "show", "nothing", home=home)
    assert "Traceback" not in bad.stderr
    loud = run_mamba("-v", "sessions", "show", "nothing", home=home)
    assert "Traceback" in loud.stderr


def test_version_and_help(home):
    version = run_mamba("--version", home=home)
    assert version.code == 0 and version.stdout.startswith("mamba ")
    helped = run_mamba("--help", home=home)
    assert helped.code == 0 and "run" in helped.stdout and "sessions" in helped.stdout
    unknown = run_mamba("frobnicate", home=home)
    assert unknown.code == 2


def test_global_flags_work_after_the_command_too(mamba):
    quiet = mamba("run", "hi", "-q")
    assert quiet.code == 0 and quiet.stderr == "" and quiet.stdout == "You said: hi\n"
    verbose = mamba("run", "-v", "hi")
    assert "DEBUG mamba_agents.backends: POST" in verbose.stderr
    # The value of the command's own option stays its value.
    system = mamba("run", "--system", "-q", "-o", "json", "hi")
    assert system.code == 0 and "session " in system.stderr
    listing = mamba("sessions", "list", "--json", "-q")
    assert listing.code == 0 and len(listing.json()) == 3 and listing.stderr == ""


def test_an_empty_session_reference_is_a_usage_error(mamba):
    result = mamba("run", "--session", "", "hi")
    assert result.code == 2 and result.stdout == ""
    assert result.stderr == (
        "mamba: --session: empty; give a session id, a unique prefix or a state id\n"
    )


def test_a_cost_limit_on_a_model_without_prices_is_warned_about(mamba):
    unpriced = mamba("run", "--max-cost", "0.5", "hi", model="openai/in-house-model")
    assert unpriced.code == 0
    assert "cost limit $0.5: no prices are known for openai/in-house-model" in unpriced.stderr
    assert "cost limit" not in mamba("run", "--max-cost", "0.5", "hi").stderr


def test_show_at_a_state_totals_the_requests_that_led_to_it(mamba):
    first = mamba("run", "first question", "-o", "json").json()
    second = mamba("run", "-c", "second question, a longer one", "-o", "json").json()
    state = mamba("sessions", "show", first["state_id"], "--json").json()
    assert state["usage"]["input_tokens"] == first["usage"]["input_tokens"]
    head = mamba("sessions", "show", second["session_id"], "--json").json()
    total = first["usage"]["input_tokens"] + second["usage"]["input_tokens"]
    assert head["usage"]["input_tokens"] == total
    markdown = mamba("sessions", "show", first["state_id"]).stdout
    tokens = first["usage"]["input_tokens"]
    assert f"- tokens (up to state `{first['state_id']}`): {tokens} in" in markdown


def test_delete_asks_on_a_terminal_unless_told_yes(mamba, home):
    from conftest import MAMBA, mamba_env
    from terminal import Terminal

    kept = mamba("run", "keep me", "-o", "json").json()["session_id"]
    gone = mamba("run", "delete me", "-o", "json").json()["session_id"]

    def delete(*args: str, answer: str | None) -> tuple[int, str]:
        terminal = Terminal([str(MAMBA), "sessions", "delete", *args], mamba_env(home), str(home))
        try:
            if answer is not None:
                terminal.wait_for(r"\[y/N\]")
                terminal.enter(answer)
            return terminal.wait_exit(), terminal.text()
        finally:
            terminal.close()

    code, screen = delete(kept, answer="n")
    assert code == 1 and "Delete session" in screen and '("keep me", 1 states)' in screen
    assert "kept session" in screen and len(session_files(home)) == 2
    code, screen = delete(gone, answer="y")
    assert code == 0 and "deleted session" in screen and len(session_files(home)) == 1
    code, screen = delete(kept, "-y", answer=None)
    assert code == 0 and "[y/N]" not in screen and session_files(home) == []
