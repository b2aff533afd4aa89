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

STYLES = {
    "heading": "bold cyan",
    "bold": "bold",
    "italic": "italic",
    "code": "color(180)",
    "link": "underline blue",
    "url": "dim",
    "quote": "dim",
    "bullet": "cyan",
    "rule": "dim",
    "fence": "dim",
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
RESET = "\033[0m"


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
        from rich.color import ColorSystem
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
        self._colors = ColorSystem.EIGHT_BIT

    def inline(self, text: str, style: str = "") -> Any:
        """`text` as rich Text, with code spans, bold, italic and links styled."""
        from rich.text import Text

        result = Text(style=style)
        position = 0
        for match in _INLINE.finditer(text):
            result.append(text[position : match.start()])
            code, bold, italic, link = match.groups()
            if code:
                result.append(code[1:-1], STYLES["code"])
            elif bold:
                result.append(bold[2:-2], STYLES["bold"])
            elif italic:
                result.append(italic[1:-1], STYLES["italic"])
            else:
                label, _, url = link[1:-1].partition("](")
                result.append(label, STYLES["link"])
                result.append(f" ({url})", STYLES["url"])
            position = match.end()
        result.append(text[position:])
        return result

    def _ansi(self, text: Any) -> str:
        """One rich Text line as ANSI (cheaper than `Console.print` for text already
        wrapped)."""
        return "".join(
            segment.style.render(segment.text, color_system=self._colors)
            if segment.style
            else segment.text
            for segment in text.render(self.console)
        )

    def _indented(self, first: Any, rest: str, body: Any) -> None:
        """`body` wrapped beside a prefix: `first` on its first line, `rest` below it."""
        lines = body.wrap(self.console, max(self.width - first.cell_len, 10))
        prefixes = [self._ansi(first), rest]
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
            self._indented(Text(), "", self.inline(heading.group(2), STYLES["heading"]))
        elif _RULE.match(line):
            self.console.print(Text("─" * min(self.width, 60), STYLES["rule"]))
        elif item := _BULLET.match(line) or _NUMBERED.match(line):
            indent, mark, rest = item.groups()
            mark = "•" if mark in "-*+" else mark
            first = Text(indent) + Text(mark, STYLES["bullet"]) + Text(" ")
            self._indented(first, " " * first.cell_len, self.inline(rest))
        elif line.startswith(">"):
            prefix = Text("│ ", STYLES["quote"])
            self._indented(prefix, "│ ", self.inline(line.lstrip(">").lstrip(), STYLES["quote"]))
        else:
            self._indented(Text(), "", self.inline(line))

    def fence(self, line: str) -> None:
        """A code fence line (```` ```python ````), dimmed."""
        self.console.file.write(f"\033[2m{line}{RESET}\n")

    def code(self, line: str, lexer: Any) -> None:
        """A line of fenced code, highlighted, never wrapped or reflowed."""
        self.console.file.write(highlight_code_line(line, lexer) + "\n")

    def table(self, rows: list[str]) -> None:
        """A complete Markdown table, drawn with rich (columns fitted to the width)."""
        from rich.markdown import Markdown

        with self.console.capture() as drawn:
            self.console.print(Markdown("\n".join(rows)))
        lines = drawn.get().split("\n")
        # rich pads a table with blank rows above and below: the answer has its own.
        while lines and not _ANSI.sub("", lines[0]).strip():
            lines.pop(0)
        while lines and not _ANSI.sub("", lines[-1]).strip():
            lines.pop()
        self.console.file.write("".join(line + "\n" for line in lines))
