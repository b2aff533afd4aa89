"""Completed Markdown, drawn with rich: paragraphs word-wrapped to the terminal, lists and
quotes with hanging indents, tables drawn as tables, code highlighted with Pygments.

Each piece is drawn once, when it is complete (`markdown_stream` decides when). Prose lines
are built as rich `Text` from a light inline parser rather than through rich's full Markdown
renderer, which is kept for tables: a 20,000-token answer then costs a few times a plain write,
not twenty.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, TextIO

from mamba_cli.chat.styles import RESET

_INLINE = re.compile(
    # `__strong__` only between words, never inside one (`mcp__server__tool` stays as is).
    r"(`[^`]+`)|(\*\*[^*]+\*\*|(?<![A-Za-z0-9])__[^_]+__(?![A-Za-z0-9]))|(\*[^*\s][^*]*\*)|"
    r"(\[[^\]]+\]\([^)\s]+\))"
)
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^(\s*)([-*+])\s+(.*)$")
_NUMBERED = re.compile(r"^(\s*)(\d+[.)])\s+(.*)$")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_TABLE_ROW = re.compile(r"^\s*\|")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Below this many columns a cell, a number included, would be cut: the table stays as written.
MIN_COLUMN_WIDTH = 9

# Each style's SGR parameters. Spans carry the style's name: rich lays the text out (word
# wrapping, cell widths) and these codes colour it, which costs a fraction of rich's own
# rendering of styles.
STYLES = {
    "heading": "1;36",
    "bold": "1",
    "italic": "3",
    "code": "38;5;180",
    "link": "4;34",
    "url": "2",
    "quote": "2",
    "bullet": "36",
    "rule": "2",
    "fence": "2",
}
# Pygments token families (most specific first is not needed: a token climbs to its family).
_TOKEN_COLORS = {
    "Comment": "\033[2;3m",
    "Literal.String": "\033[32m",
    "Literal.Number": "\033[36m",
    "Keyword": "\033[35m",
    "Name.Builtin": "\033[34m",
    "Name.Function": "\033[34m",
    "Name.Class": "\033[1;34m",
    "Name.Decorator": "\033[33m",
}


def is_table_row(line: str) -> bool:
    """A line of a Markdown table (`| a | b |`)."""
    return bool(_TABLE_ROW.match(line))


@cache
def _token_color(token_type: Any) -> str:
    """The ANSI colour of a Pygments token type: that of its nearest listed family."""
    while token_type is not None:
        name = str(token_type).removeprefix("Token.")
        if name in _TOKEN_COLORS:
            return _TOKEN_COLORS[name]
        token_type = token_type.parent
    return ""


@cache
def code_lexer(language: str) -> Any:
    """The Pygments lexer for a fence's language, or None (shown plain) when unknown."""
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    if not language:
        return None
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def highlight_code_line(line: str, lexer: Any) -> str:
    """One line of code in colour, each token by its Pygments family."""
    if lexer is None or not line.strip():
        return line
    parts = []
    for token_type, value in lexer.get_tokens(line):
        color = _token_color(token_type)
        parts.append(f"{color}{value}{RESET}" if color and value.strip() else value)
    return "".join(parts)


class BlockRenderer:
    """Draws completed Markdown on one terminal stream, wrapped to `width` columns."""

    def __init__(self, out: TextIO, width: int):
        from rich.console import Console

        self.width = width
        self.console = Console(
            file=out,
            width=width,
            force_terminal=True,
            color_system="256",
            highlight=False,
            markup=False,
            emoji=False,
        )

    def inline(self, text: str, style: str = "") -> Any:
        """`text` as rich Text, with code spans, bold, italic and links marked by style
        name (see STYLES)."""
        from rich.text import Span, Text

        pieces: list[str] = []
        spans: list[Any] = []
        size = 0

        def add(piece: str, name: str = "") -> None:
            nonlocal size
            if name and piece:
                spans.append(Span(size, size + len(piece), name))
            pieces.append(piece)
            size += len(piece)

        position = 0
        for match in _INLINE.finditer(text):
            add(text[position : match.start()])
            code, bold, italic, link = match.groups()
            if code:
                add(code[1:-1], "code")
            elif bold:
                add(bold[2:-2], "bold")
            elif italic:
                add(italic[1:-1], "italic")
            else:
                label, _, url = link[1:-1].partition("](")
                add(label, "link")
                add(f" ({url})", "url")
            position = match.end()
        add(text[position:])
        return Text("".join(pieces), style=style, spans=spans)

    @staticmethod
    def _ansi(text: Any) -> str:
        """One laid-out line as ANSI: its spans' styles on top of the line's own."""
        plain = text.plain
        base = STYLES.get(str(text.style), "")

        def paint(piece: str, code: str) -> str:
            codes = ";".join(c for c in (base, code) if c)
            return f"\033[{codes}m{piece}{RESET}" if codes and piece else piece

        out = []
        position = 0
        for span in sorted(text.spans, key=lambda span: span.start):
            out.append(paint(plain[position : span.start], ""))
            out.append(paint(plain[span.start : span.end], STYLES.get(str(span.style), "")))
            position = max(position, span.end)
        out.append(paint(plain[position:], ""))
        return "".join(out)

    def _indented(self, first: Any, rest: Any, body: Any) -> None:
        """`body` wrapped beside a prefix: `first` on its first line, `rest` below it."""
        room = max(self.width - first.cell_len, 10)
        lines = [body] if body.cell_len <= room else body.wrap(self.console, room)
        prefixes = [self._ansi(first), self._ansi(rest)]
        self.console.file.write(
            "".join(
                prefixes[min(number, 1)] + self._ansi(line) + "\n"
                for number, line in enumerate(lines)
            )
        )

    def prose(self, line: str) -> None:
        """A completed line outside code and tables: heading, list item, quote, rule or
        paragraph text, word-wrapped."""
        from rich.text import Text

        if not line.strip():
            self.console.file.write("\n")
            return
        if heading := _HEADING.match(line):
            self._indented(Text(), Text(), self.inline(heading.group(2), "heading"))
        elif _RULE.match(line):
            self.console.file.write(self._ansi(Text("─" * min(self.width, 60), "rule")) + "\n")
        elif item := _BULLET.match(line) or _NUMBERED.match(line):
            indent, mark, rest = item.groups()
            mark = "•" if mark in "-*+" else mark
            first = Text(indent) + Text(mark, "bullet") + Text(" ")
            self._indented(first, Text(" " * first.cell_len), self.inline(rest))
        elif line.startswith(">"):
            prefix = Text("│ ", "quote")
            self._indented(prefix, prefix, self.inline(line.lstrip(">").lstrip(), "quote"))
        else:
            self._indented(Text(), Text(), self.inline(line))

    def fence(self, line: str) -> None:
        """A code fence line (```` ```python ````), dimmed."""
        self.console.file.write(f"\033[{STYLES['fence']}m{line}{RESET}\n")

    def code(self, line: str, lexer: Any) -> None:
        """A line of fenced code, highlighted, never wrapped or reflowed."""
        self.console.file.write(highlight_code_line(line, lexer) + "\n")

    def table(self, rows: list[str]) -> None:
        """A complete Markdown table, drawn with rich (columns fitted to the width); one too
        wide to draw without cutting its cells is shown as it was written."""
        from rich.markdown import Markdown

        columns = max(row.strip().strip("|").count("|") + 1 for row in rows)
        if columns * MIN_COLUMN_WIDTH > self.width:
            self.console.file.write("".join(row + "\n" for row in rows))
            return

        with self.console.capture() as drawn:
            self.console.print(Markdown("\n".join(rows)))
        lines = drawn.get().split("\n")
        # rich pads a table with blank rows above and below: the answer has its own.
        while lines and not _ANSI.sub("", lines[0]).strip():
            lines.pop(0)
        while lines and not _ANSI.sub("", lines[-1]).strip():
            lines.pop()
        self.console.file.write("".join(line + "\n" for line in lines))
