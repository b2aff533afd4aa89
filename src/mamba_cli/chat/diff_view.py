"""Unified diffs in the chat: recognised in a tool's result, and coloured line by line."""

from __future__ import annotations

from mamba_cli.chat.styles import BOLD, CYAN, GREEN, RED


def is_diff(lines: list[str]) -> bool:
    """Lines that are a unified diff (`--- a/x`, `+++ b/x`, `@@ ...`)."""
    return len(lines) > 1 and lines[0].startswith("--- ") and lines[1].startswith("+++ ")


def diff_line_style(line: str) -> str:
    """Headers bold, hunks cyan, added lines green, removed lines red, context plain."""
    if line.startswith(("--- ", "+++ ")):
        return BOLD
    return {"@": CYAN, "+": GREEN, "-": RED}.get(line[:1], "")
