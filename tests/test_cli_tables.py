"""`config show`, `sessions list` and `tools list`: tab-separated lines when piped, a table
fitted to the terminal on one."""

from __future__ import annotations

from pathlib import Path

from conftest import MAMBA, add_turn, mamba_env, run_mamba
from terminal import Terminal


def on_terminal(home: Path, *args: str, columns: int = 120, **env: str) -> Terminal:
    """Run `mamba` to the end (exit 0) in a pseudo-terminal `columns` wide."""
    term = Terminal(
        [str(MAMBA), *args],
        mamba_env(home, TERM="xterm", **env),
        str(home / "work"),
        rows=200,
        columns=columns,
    )
    try:
        assert term.wait_exit() == 0
    finally:
        term.close()
    return term


def user_config(home: Path, text: str) -> Path:
    path = home / "config" / "mamba" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def saved_session(title: str, turns: int) -> str:
    from mamba_agents.store import Session, SessionStore

    session = Session(model="openai/gpt-4o", title=title)
    for number in range(turns):
        add_turn(session, f"question {number}")
    SessionStore().save(session)
    return session.id


def rows(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


def test_piped_config_show_is_one_tab_separated_line_per_setting(home):
    path = user_config(home, '[agent]\nmax_turns = 7\n[models."house-model"]\ninput_price = 1.5\n')
    result = run_mamba("config", "show", home=home)
    assert result.code == 0 and "\x1b" not in result.stdout
    table = rows(result.stdout)
    assert all(len(row) == 3 for row in table)
    assert table[0] == ["model_backend.model", '"ollama/llama3.2"', "default"]
    assert ["model_backend.base_url", "(unset)", "default"] in table
    assert ["agent.max_turns", "7", str(path)] in table
    assert ['models."house-model".input_price', "1.5", str(path)] in table


def test_piped_tools_list_is_one_tab_separated_line_per_tool(home):
    result = run_mamba("tools", "list", "--allow", "run_bash(git *)", home=home)
    table = {row[0]: row for row in rows(result.stdout)}
    assert all(len(row) == 4 for row in table.values())
    assert table["read_file"] == [
        "read_file",
        "read",
        "allowed",
        "read-only tools are allowed by default",
    ]
    assert table["write_file"][2] == "asks (refused by run)"
    assert "rules for some calls: run_bash(git *)" in table["run_bash"][3]


def test_piped_sessions_list_counts_messages_in_their_own_field(home):
    older = saved_session("the first one", turns=1)
    newer = saved_session("a\ttitle with a tab", turns=2)
    table = rows(run_mamba("sessions", "list", home=home).stdout)
    assert [row[0] for row in table] == [newer[:8], older[:8]]
    assert all(len(row) == 6 for row in table)
    assert [row[2:] for row in table] == [
        ["openai/gpt-4o", "4", "$0.0020", "a title with a tab"],
        ["openai/gpt-4o", "2", "$0.0010", "the first one"],
    ]


def column_starts(line: str, *words: str) -> list[int]:
    return [line.index(word) for word in words]


def test_config_show_on_a_terminal_lines_up_its_columns(home):
    path = user_config(home, '[agent]\nsystem_prompt = "Be terse."\n')
    screen = on_terminal(home, "config", "show", columns=200).text().splitlines()
    header = next(line for line in screen if line.startswith("setting"))
    value, source = column_starts(header, "value", "source")
    assert screen[screen.index(header) + 1].startswith("───")
    for setting, shown, where in [
        ("model_backend.model", '"ollama/llama3.2"', "default"),
        ("agent.system_prompt", '"Be terse."', str(path)),
        ("agent.max_turns", "25", "default"),
    ]:
        line = next(line for line in screen if line.startswith(setting + " "))
        assert column_starts(line, shown, where) == [value, source]


def test_a_narrow_terminal_wraps_cells_inside_their_column(home):
    path = user_config(home, '[agent]\nsystem_prompt = "Be terse."\n')
    assert len(str(path)) > 40
    screen = on_terminal(home, "config", "show", columns=60).text().splitlines()
    assert max(len(line) for line in screen) <= 60
    header = next(line for line in screen if line.startswith("setting"))
    source = header.index("source")
    start = next(i for i, line in enumerate(screen) if line.startswith("agent.system_prompt "))
    end = next(i for i in range(start + 1, len(screen)) if not screen[i].startswith(" "))
    value = header.index("value")
    cell = screen[start:end]
    assert len(cell) > 1  # the path took more than one line...
    assert all(not line[:value].strip() for line in cell[1:])  # ...all in its own column
    assert "".join(line[source:].strip() for line in cell) == str(path)
    parts = [line[value:source].strip() for line in cell]
    assert " ".join(part for part in parts if part) == '"Be terse."'


def test_tables_on_a_terminal_are_bold_unless_colour_is_off(home):
    assert b"\x1b[1m" in on_terminal(home, "tools", "list").raw
    for plain in (
        on_terminal(home, "--no-color", "tools", "list"),
        on_terminal(home, "tools", "list", NO_COLOR="1"),
    ):
        assert b"\x1b" not in plain.raw
        assert "read_file" in plain.text() and "reason" in plain.text()


def test_sessions_list_on_a_terminal_has_headers_and_shows_titles_safely(home):
    session = saved_session("\x1b]0;hijack\x07 [bold]title[/bold]", turns=1)
    term = on_terminal(home, "sessions", "list")
    assert b"\x1b]0;" not in term.raw and b"\x07" not in term.raw and term.screen.title == ""
    screen = term.text().splitlines()
    assert screen[0].split() == ["id", "updated", "model", "messages", "cost", "title"]
    row = next(line for line in screen if line.startswith(session[:8]))
    assert row.split()[3:] == [
        "openai/gpt-4o",
        "2",
        "$0.0010",
        "^[]0;hijack^G",
        "[bold]title[/bold]",
    ]


def test_rich_is_imported_only_to_draw_a_table(mamba):
    """`mamba run` and piped tables never load rich: only drawing a table needs it."""
    for args in (("run", "hi"), ("config", "show"), ("tools", "list"), ("sessions", "list")):
        result = mamba(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
        assert result.code == 0, result.stderr
        imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
        assert "mamba_cli.app" in imported and "rich" not in imported


def test_sessions_search_on_a_terminal_keeps_every_column_and_a_readable_match(home):
    from mamba_agents.messages import Message
    from mamba_agents.store import Session, SessionStore

    question = (
        "Why does the deployment pipeline for the payments service fail on the integration "
        "step every Monday morning after the weekly dependency update"
    )
    session = Session(model="openai/gpt-4o")
    session.add_state(parent_id=None, new_messages=[Message.user(question)])
    SessionStore().save(session)
    for columns in (120, 80):
        screen = on_terminal(home, "sessions", "search", "Monday", columns=columns)
        lines = screen.text().splitlines()
        assert lines[0].split() == ["id", "updated", "title", "match"]
        start = next(i for i, line in enumerate(lines) if line.startswith(session.id[:8]))
        title, match = lines[0].index("title"), lines[0].index("match")
        assert match - title <= columns // 4 + 2  # a long title is cut short...
        assert "Why does the" in lines[start][title:match] and "…" in lines[start][title:match]
        assert columns - match >= columns // 3  # ...so the match keeps a third of the width
        cell = [line[match:].strip() for line in lines[start:] if line.strip()]
        assert " ".join(cell).split() == question.split()  # wrapped between words
