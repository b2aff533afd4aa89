"""Streaming Markdown for the terminal, without re-rendering the answer.

Only the line still arriving is live: its raw text is echoed as tokens come and replaced by
its drawn form when it completes. Completed lines are drawn once by `markdown_blocks` (with
rich): prose word-wrapped, code highlighted line by line, and a table held until its last row
so it can be drawn whole. The terminal's scrollback stays intact because nothing above the
current line is ever redrawn. On a terminal, control characters in the answer are shown,
never obeyed (`mamba_cli.output.terminal_safe`).
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from typing import Any, TextIO

from mamba_cli.chat.markdown_blocks import BlockRenderer, code_lexer, is_table_row
from mamba_cli.chat.styles import DIM, RESET
from mamba_cli.output import TerminalText

_FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+#.-]*)")


def display_width(text: str) -> int:
    """Columns a string takes on a terminal (wide characters count two)."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class MarkdownStream:
    """Writes a streamed Markdown answer to a terminal, drawing each completed line once."""

    def __init__(self, out: TextIO, width: int = 100, *, color: bool = True):
        self.out = out
        self.width = max(width, 20)
        self.color = color
        self.terminal = TerminalText() if out.isatty() else None
        self.partial = ""
        self._echoed = 0  # columns of raw partial text on screen
        self._blocks: BlockRenderer | None = None
        self._code: Any = False  # inside a fence: its lexer (None when plain); False outside
        self._table: list[str] = []  # rows of a table still arriving

    # -- streaming ---------------------------------------------------------------------------
    def feed(self, text: str) -> None:
        """Take the next piece of the answer."""
        self._take(self.terminal.feed(text) if self.terminal else text)

    def _take(self, text: str) -> None:
        if not self.color:
            # Plain output is the text itself: nothing to restyle, nothing to redraw.
            self.out.write(text)
            self.out.flush()
            self.partial = (self.partial + text).rpartition("\n")[2]
            return
        if "\n" not in text:
            self.partial += text
            self._echo(text)
            return
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        self._erase_echo()
        for line in lines:
            self._complete(line)
        self._echo(self.partial)

    def finish(self) -> None:
        """The answer is complete: draw the last line and any table still open."""
        if self.terminal:
            self._take(self.terminal.flush())
        self._erase_echo()
        if self.partial:
            if self.color:
                self._complete(self.partial)
            else:
                self.out.write("\n")
        self._end_table()
        self.partial = ""
        self._code = False
        self.out.flush()

    def abandon(self, note: str) -> None:
        """The answer was cut off: keep what arrived and say so."""
        self.finish()
        self.out.write((f"{DIM}{note}{RESET}" if self.color else note) + "\n")
        self.out.flush()

    def _echo(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()
            self._echoed += display_width(text)

    def _follow_resize(self) -> None:
        """Draw at the terminal's width now (the window may have been resized)."""
        if self.terminal is None:
            return
        width = max(shutil.get_terminal_size((self.width, 24)).columns, 20)
        if width != self.width:
            self.width = width
            self._blocks = None

    def _erase_echo(self) -> None:
        self._follow_resize()  # the rows the echo takes as the terminal wraps it now
        if self._echoed:
            rows_up = (self._echoed - 1) // self.width
            self.out.write((f"\033[{rows_up}A" if rows_up else "") + "\r\033[J")
            self._echoed = 0

    # -- drawing -----------------------------------------------------------------------------
    def _renderer(self) -> BlockRenderer:
        if self._blocks is None:
            self._blocks = BlockRenderer(self.out, self.width)
        return self._blocks

    def _complete(self, line: str) -> None:
        """Draw one completed line; a table's rows wait for the table's end."""
        blocks = self._renderer()
        if self._code is not False:
            if _FENCE.match(line):
                self._code = False
                blocks.fence(line)
            else:
                blocks.code(line, self._code)
            return
        if is_table_row(line):
            self._table.append(line)
            return
        self._end_table()
        fence = _FENCE.match(line)
        if fence:
            self._code = code_lexer(fence.group(2).lower())
            blocks.fence(line)
        else:
            blocks.prose(line)

    def _end_table(self) -> None:
        if self._table:
            self._renderer().table(self._table)
            self._table = []
