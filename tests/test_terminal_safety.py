"""Text from the model or a tool never drives the terminal: control characters are shown
as `cat -v` shows them, newlines and tabs are kept, piped stdout stays byte-exact."""

from __future__ import annotations

import io
import json
import subprocess

import pyte
import pytest
from conftest import MAMBA, mamba_env, run_mamba
from terminal import Terminal

# An answer that would set the window title, write the clipboard, paint, clear the screen
# (ESC c and the one-byte C1 CSI), ring the bell, back over text and return the carriage.
HOSTILE = (
    "A\x1b]0;pwned\x07B\x1b]52;c;cHduZWQ=\x07C\x1b[31mred\x1b[0m D\x9b2J E\x1bc "
    "F\x08\x08G\rH\x7fI\x9d0;c1title\x9c **bold**"
)
SHOWN = (
    "A^[]0;pwned^GB^[]52;c;cHduZWQ=^GC^[[31mred^[[0m DM-^[2J E^[c "
    "F^H^HG^MH^?IM-^]0;c1titleM-^\\ bold"
)
FILE_TEXT = "\x1b]0;fromfile\x07first line\nsecond line\n"


def assert_terminal_untouched(raw: bytes, screen: pyte.Screen) -> None:
    """Nothing the model or a tool wrote reached the terminal as a control sequence."""
    text = raw.decode(errors="replace")
    assert screen.title == ""
    for sequence in ("\x1b]0;", "\x1b]52;", "\x1b[31mred", "\x1bc", "\x9b", "\x9d", "\x07"):
        assert sequence not in text


# -- the function ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b]0;title\x07", "^[]0;title^G"),
        ("\x1b]52;c;QUJD\x07", "^[]52;c;QUJD^G"),
        ("\x1b[2J\x1b[H", "^[[2J^[[H"),
        ("lone \x1b escape", "lone ^[ escape"),
        ("\x9b31m and \x85 and \x9f", "M-^[31m and M-^E and M-^_"),
        ("bell\x07 back\x08 null\x00 del\x7f", "bell^G back^H null^@ del^?"),
        ("safe\rEVIL", "safe^MEVIL"),
        ("keeps\ttabs\nand newlines\r\n", "keeps\ttabs\nand newlines\n"),
        ("plain ünïcode ✓ 漢字", "plain ünïcode ✓ 漢字"),
    ],
)
def test_control_characters_are_shown_not_obeyed(text, shown):
    from mamba_cli.output import terminal_safe

    assert terminal_safe(text) == shown


class TtyBuffer(io.StringIO):
    """What a terminal would receive."""

    def isatty(self) -> bool:
        return True


def test_streamed_markdown_neutralises_sequences_split_across_chunks():
    from mamba_cli.chat.markdown_stream import MarkdownStream

    out = TtyBuffer()
    stream = MarkdownStream(out, 80, color=True)
    for piece in ("**bold** \x1b", "]0;pwned", "\x07 line\r", "\nnext \x9b", "2J\n"):
        stream.feed(piece)
    stream.finish()
    screen = pyte.Screen(80, 10)
    pyte.Stream(screen).feed(out.getvalue())
    assert screen.title == ""
    shown = "\n".join(line.rstrip() for line in screen.display)
    assert "bold ^[]0;pwned^G line\nnext M-^[2J" in shown
    assert "\x1b[1m" in out.getvalue()  # our own styling still works


def test_plain_chat_output_on_a_terminal_is_neutralised_too():
    from mamba_cli.chat.markdown_stream import MarkdownStream

    out = TtyBuffer()
    stream = MarkdownStream(out, 80, color=False)
    stream.feed("a\x1b]0;x\x07b\n")
    stream.finish()
    assert out.getvalue() == "a^[]0;x^Gb\n"


def test_json_output_escapes_c1_controls(capsys):
    from mamba_cli import output

    output.print_json_line({"result": "x\x9b2J\x1b]0;t\x07"})
    output.print_json({"result": "\x85\x7f"})
    lines = capsys.readouterr().out
    assert "\x9b" not in lines and "\x1b" not in lines and "\x85" not in lines
    assert "\x7f" not in lines
    first, _, rest = lines.partition("\n")
    assert json.loads(first) == {"result": "x\x9b2J\x1b]0;t\x07"}
    assert json.loads(rest) == {"result": "\x85\x7f"}


# -- through the command -----------------------------------------------------------------------
def hostile_turn(server) -> None:
    """A tool result, a tool argument and a tool name with escapes, then a hostile answer."""
    server.add(
        {
            "tool_calls": [
                {"id": "a", "name": "read_file", "arguments": {"path": "data.txt"}},
                {"id": "b", "name": "read_file", "arguments": {"path": "x\x1b]0;arg\x07.txt"}},
                {"id": "c", "name": "evil\x1b]0;name\x07", "arguments": {}},
            ]
        },
        {"text": HOSTILE, "chunks": 5},
    )


def on_terminal(home, *args: str) -> Terminal:
    """Run `mamba` in a pseudo-terminal to the end (exit 0); the terminal shows what it wrote."""
    term = Terminal([str(MAMBA), *args], mamba_env(home, TERM="xterm-256color"), str(home / "work"))
    try:
        assert term.wait_exit() == 0
    finally:
        term.close()
    return term


def test_run_on_a_terminal_shows_escapes_visibly(home, server):
    (home / "work" / "data.txt").write_text(FILE_TEXT)
    hostile_turn(server)
    term = on_terminal(home, "run", "go", "-m", "openai/gpt-4o", "--base-url", server.base_url)
    assert_terminal_untouched(term.raw, term.screen)
    raw = term.raw.decode()
    assert SHOWN.replace("bold", "**bold**") in raw
    assert "^[]0;fromfile^Gfirst line" in raw  # tool result on stderr
    assert r"x\u001b]0;arg\u0007.txt" in raw  # tool argument, as JSON
    assert "evil^[]0;name^G" in raw  # tool name


def piped(home, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`mamba` with stdout and stderr piped, as bytes (text mode would translate CRs)."""
    return subprocess.run(
        [str(MAMBA), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=mamba_env(home),
        cwd=home / "work",
        timeout=60,
    )


def test_piped_run_keeps_stdout_exact_and_stderr_safe(home, server):
    (home / "work" / "data.txt").write_text(FILE_TEXT)
    hostile_turn(server)
    done = piped(home, "run", "go", "-m", "openai/gpt-4o", "--base-url", server.base_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (HOSTILE + "\n").encode()  # the user's data, byte for byte
    assert b"\x1b" not in done.stderr and b"\x07" not in done.stderr
    assert b"evil^[]0;name^G" in done.stderr

    session = run_mamba("sessions", "list", "--json", home=home).json()[0]["id"]
    assert HOSTILE.encode() in piped(home, "sessions", "show", session).stdout
    term = on_terminal(home, "sessions", "show", session)
    assert_terminal_untouched(term.raw, term.screen)
    assert "^[]0;fromfile^Gfirst line" in term.raw.decode()


@pytest.mark.parametrize("fmt", ["csv", "table"])
def test_usage_reports_on_a_terminal_show_hostile_model_names_safely(home, fmt):
    from conftest import add_turn

    from mamba_agents.store import Session, SessionStore

    session = Session(title="\x1b]0;title\x07")
    add_turn(session, "hi")
    session.model = "openai/\x1b]52;c;cHduZWQ=\x07x"
    store = SessionStore(home / "data" / "sessions")
    store.save(session)
    path = store.path_for(session.id)
    path.write_text(path.read_text().replace('"openai/gpt-4o"', json.dumps(session.model)))
    term = on_terminal(home, "usage", "--format", fmt, "--by", "model", "--since", "30d")
    assert_terminal_untouched(term.raw, term.screen)
    assert b"\x1b]52" not in term.raw
    assert b"^[]52;c;cHduZWQ=^G" in term.raw
