"""Writing to the terminal: data on stdout, everything else on stderr, ANSI only on a tty."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

_state = {"color": True, "quiet": False, "verbose": False}


def configure(*, no_color: bool, quiet: bool, verbose: bool) -> None:
    """Apply the global options."""
    _state["color"] = not no_color and "NO_COLOR" not in os.environ
    _state["quiet"] = quiet
    _state["verbose"] = verbose


def color_on(stream: Any) -> bool:
    """ANSI codes only for a terminal, and never with --no-color or NO_COLOR."""
    return bool(_state["color"]) and "NO_COLOR" not in os.environ and stream.isatty()


def _paint(text: str, code: str, stream: Any) -> str:
    return f"\033[{code}m{text}\033[0m" if color_on(stream) else text


def error_line(message: str) -> None:
    """One line on stderr: `mamba: message`."""
    print(_paint(f"mamba: {message}", "31", sys.stderr), file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """A warning on stderr (shown even with --quiet)."""
    print(_paint(f"mamba: warning: {message}", "33", sys.stderr), file=sys.stderr, flush=True)


def progress(message: str) -> None:
    """A dim progress line on stderr, hidden by --quiet."""
    if not _state["quiet"]:
        print(_paint(message, "2", sys.stderr), file=sys.stderr, flush=True)


def print_json(data: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def print_json_line(data: Any) -> None:
    """One compact JSON object per line on stdout (stream-json)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def shorten(text: str, limit: int = 80) -> str:
    """One line, at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
