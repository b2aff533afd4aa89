"""Writing to the terminal: data on stdout, everything else on stderr, ANSI only on a tty."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, TextIO

_state = {"color": True, "quiet": False, "verbose": False}


def configure(*, no_color: bool, quiet: bool, verbose: bool) -> None:
    """Apply the global options."""
    _state["color"] = not no_color and "NO_COLOR" not in os.environ
    _state["quiet"] = quiet
    _state["verbose"] = verbose


def color_on(stream: Any) -> bool:
    """ANSI codes only for a terminal, and never with --no-color or NO_COLOR."""
    return bool(_state["color"]) and "NO_COLOR" not in os.environ and stream.isatty()


# C0 controls but tab and newline, DEL, C1 controls; a CR LF pair is a newline.
_CONTROL = re.compile(r"\r\n|[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What JSON leaves raw that a terminal would obey: DEL and the C1 controls.
_JSON_RAW_CONTROL = re.compile(r"[\x7f-\x9f]")


def _caret(code: int) -> str:
    return "^?" if code == 0x7F else "^" + chr(code + 0x40)


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\r\n":
        return "\n"
    code = ord(char)
    return "M-" + _caret(code - 0x80) if code >= 0x80 else _caret(code)


def terminal_safe(text: str) -> str:
    """Text from a model, a tool or a file, made safe to show on a terminal: every control
    character but newline and tab is shown as `cat -v` shows it (ESC as ^[, BEL as ^G, a
    lone CR as ^M, DEL as ^?, the C1 CSI U+009B as M-^[) instead of being obeyed."""
    return _CONTROL.sub(_visible, text)


def valid_text(text: str | bytes) -> str:
    """Text from stdin or the command line, with bytes that are not UTF-8 (a Latin-1 file,
    a stray byte in an argument) made U+FFFD instead of failing the request later."""
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogateescape")
    return text.decode("utf-8", "replace")


class TerminalText:
    """`terminal_safe` for text that arrives in pieces: a CR that ends one piece waits for
    the next, so a CR LF split between two pieces is still a newline."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """The next piece, made safe."""
        text = self._held + piece
        self._held = "\r" if text.endswith("\r") else ""
        return terminal_safe(text[:-1] if self._held else text)

    def flush(self) -> str:
        """Whatever is held back, made safe (at the end of the text)."""
        held, self._held = self._held, ""
        return terminal_safe(held)


def write_data(text: str, stream: TextIO | None = None) -> None:
    """Data (answers, conversations) on stdout: byte-exact when piped, made safe for a
    terminal."""
    stream = stream or sys.stdout
    stream.write(terminal_safe(text) if stream.isatty() else text)
    stream.flush()


def _paint(text: str, code: str, stream: Any) -> str:
    return f"\033[{code}m{text}\033[0m" if color_on(stream) else text


def error_line(message: str) -> None:
    """One line on stderr: `mamba: message`."""
    print(_paint(f"mamba: {terminal_safe(message)}", "31", sys.stderr), file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """A warning on stderr (shown even with --quiet)."""
    line = f"mamba: warning: {terminal_safe(message)}"
    print(_paint(line, "33", sys.stderr), file=sys.stderr, flush=True)


def confirm(question: str) -> bool:
    """Ask a yes/no question on stderr and read the answer from stdin; Enter alone, EOF
    or Ctrl-C mean no."""
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        answer = ""
    if not answer.endswith("\n"):
        sys.stderr.write("\n")
    return answer.strip().lower() in ("y", "yes")


def progress(message: str) -> None:
    """A dim progress line on stderr, hidden by --quiet."""
    if not _state["quiet"]:
        print(_paint(terminal_safe(message), "2", sys.stderr), file=sys.stderr, flush=True)


def _json_text(data: Any, indent: int | None) -> str:
    """JSON with every control character escaped (json leaves DEL and C1 raw)."""
    text = json.dumps(data, ensure_ascii=False, indent=indent)
    return _JSON_RAW_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def print_json(data: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(_json_text(data, 2) + "\n")
    sys.stdout.flush()


def print_json_line(data: Any) -> None:
    """One compact JSON object per line on stdout (stream-json)."""
    sys.stdout.write(_json_text(data, None) + "\n")
    sys.stdout.flush()


def shorten(text: str, limit: int = 80) -> str:
    """One line, at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plural(count: int, word: str) -> str:
    """`1 request`, `2 requests`."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def human(count: float) -> str:
    """1234 -> 1.2k, 1234567 -> 1.2M."""
    for size, unit in ((1_000_000, "M"), (1000, "k")):
        if count >= size:
            return f"{count / size:.1f}".removesuffix(".0") + unit
    return str(int(count))


def compaction_figures(compaction: Any) -> str:
    """`41 messages: 96k -> 18k tokens`, from a compaction event or result."""
    return (
        f"{compaction.removed_count} messages: {human(compaction.tokens_before)} -> "
        f"{human(compaction.tokens_after)} tokens"
    )


def compaction_line(event: Any) -> str:
    """`compacted 41 messages: 96k -> 18k tokens, $0.0040` (and when the target was missed)."""
    line = f"compacted {compaction_figures(event)}"
    if event.cost_usd:
        line += f", {money(event.cost_usd)}"
    if not event.reached_target:
        line += " (still above the target)"
    return line


def money(value: float, *, places: int | None = None) -> str:
    """US dollars: `$0.0036` under a dollar, `$1,234.56` from a dollar on; `places` fixes
    the decimals instead (`$1,234.5678` with 4)."""
    if places is None:
        places = 4 if value < 1 else 2
    return f"${value:,.{places}f}"


def stop_warning(result: Any) -> str | None:
    """A warning for a run whose last answer was cut short, or None."""
    if result.stop_reason == "max_tokens":
        return "the answer was cut off at the output token limit (raise --max-tokens)"
    return None
