"""Streaming Markdown for the terminal, without re-rendering the answer.

Each completed line is styled once and printed; only the line still arriving is live: its raw
text is echoed as tokens come and replaced by the styled line when it completes. Fenced code
is highlighted line by line with pygments' lexers. The terminal's scrollback stays intact
because nothing above the current line is ever redrawn. On a terminal, control characters in
the answer are shown, never obeyed (`mamba_cli.output.terminal_safe`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import TextIO

from mamba_cli.output import TerminalText

RESET = "\033[0m"
STYLES = {
    "heading": "\033[1;36m",
    "bold": "\033[1m",
    "italic": "\033[3m",
    "code": "\033[38;5;180m",
    "link": "\033[4;34m",
    "quote": "\033[2m",
    "bullet": "\033[36m",
    "rule": "\033[2m",
    "fence": "\033[2m",
}
CODE_COLORS = {
    "comment": "\033[2;3m",
    "string": "\033[32m",
    "number": "\033[36m",
    "keyword": "\033[35m",
    "call": "\033[34m",
}
_C_LIKE = (
    "break case catch class const continue default defer do else enum export extends "
    "false final finally fn for func function go if impl import in interface let loop "
    "match mod mut new nil null package pub return self static struct super switch this "
    "throw throws true try type typeof use var void where while yield async await "
    "public private protected int long float double char bool boolean string"
)
_LANGUAGES: dict[str, tuple[str, str]] = {
    # family: (comment start, keywords)
    "python": (
        "#",
        "and as assert async await break class continue def del elif else except "
        "False finally for from global if import in is lambda None nonlocal not or pass "
        "raise return True try while with yield match case self",
    ),
    "shell": (
        "#",
        "if then else elif fi for while until do done case esac function in export "
        "local return source sudo",
    ),
    "c": ("//", _C_LIKE),
    "sql": (
        "--",
        "select from where join left right inner outer full on group by order having "
        "insert into values update set delete create table index and or not null as "
        "distinct limit offset union all primary key references alter drop",
    ),
    "data": ("#", "true false null yes no"),
}
_ALIASES = {
    "python": "python",
    "py": "python",
    "python3": "python",
    "pycon": "python",
    "bash": "shell",
    "sh": "shell",
    "shell": "shell",
    "zsh": "shell",
    "console": "shell",
    "sql": "sql",
    "yaml": "data",
    "yml": "data",
    "toml": "data",
    "json": "c",
    "ini": "data",
}


_INLINE = re.compile(
    # `__strong__` only between words, never inside one (`mcp__server__tool` stays as is).
    r"(`[^`]+`)|(\*\*[^*]+\*\*|(?<![A-Za-z0-9])__[^_]+__(?![A-Za-z0-9]))|(\*[^*\s][^*]*\*)|"
    r"(\[[^\]]+\]\([^)\s]+\))"
)
_FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+#.-]*)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^(\s*)([-*+])\s+(.*)$")
_NUMBERED = re.compile(r"^(\s*)(\d+[.)])\s+(.*)$")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")


def display_width(text: str) -> int:
    """Columns a string takes on a terminal (wide characters count two)."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _code_pattern(family: str) -> re.Pattern[str]:
    comment, words = _LANGUAGES[family]
    keywords = "|".join(sorted(set(words.split()), key=len, reverse=True))
    flags = re.IGNORECASE if family == "sql" else 0
    return re.compile(
        rf"(?P<comment>{re.escape(comment)}.*$)"
        r"|(?P<string>\"(?:\\.|[^\"\\])*\"?|'(?:\\.|[^'\\])*'?|`[^`]*`?)"
        r"|(?P<number>\b\d[\d_]*(?:\.\d+)?\b)"
        rf"|(?P<keyword>\b(?:{keywords})\b)"
        r"|(?P<call>\b[A-Za-z_]\w*(?=\())",
        flags,
    )


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _highlighter(language: str) -> re.Pattern[str]:
    """The pattern for a fence's language; unknown languages get the C-like family."""
    family = _ALIASES.get(language.lower(), "c")
    if family not in _PATTERNS:
        _PATTERNS[family] = _code_pattern(family)
    return _PATTERNS[family]


def _paint(match: re.Match[str]) -> str:
    return f"{CODE_COLORS[match.lastgroup or 'call']}{match.group()}{RESET}"


class _CodeHighlighter:
    """Colours code one line at a time: comments, strings, numbers, keywords, calls."""

    def __init__(self, language: str):
        self.pattern = _highlighter(language)

    def line(self, text: str) -> str:
        return self.pattern.sub(_paint, text)


class MarkdownStream:
    """Writes a streamed Markdown answer to a terminal, styling each line once."""

    def __init__(self, out: TextIO, width: int = 100, *, color: bool = True):
        self.out = out
        self.width = max(width, 20)
        self.color = color
        self.terminal = TerminalText() if out.isatty() else None
        self.partial = ""
        self._echoed = 0  # columns of raw partial text on screen
        self._in_code = False
        self._code: _CodeHighlighter | None = None

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
        self.out.write("".join(self.render_line(line) + "\n" for line in lines))
        self._echo(self.partial)

    def finish(self) -> None:
        """The answer is complete: style the last line."""
        if self.terminal:
            self._take(self.terminal.flush())
        self._erase_echo()
        if self.partial:
            self.out.write((self.render_line(self.partial) if self.color else "") + "\n")
        self.partial = ""
        self._in_code = False
        self._code = None
        self.out.flush()

    def abandon(self, note: str) -> None:
        """The answer was cut off: keep what arrived and say so."""
        self.finish()
        self.out.write(self._style("quote", note) + "\n")
        self.out.flush()

    def _echo(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()
            self._echoed += display_width(text)

    def _erase_echo(self) -> None:
        if self._echoed:
            rows_up = (self._echoed - 1) // self.width
            self.out.write((f"\033[{rows_up}A" if rows_up else "") + "\r\033[J")
            self._echoed = 0

    # -- styling -----------------------------------------------------------------------------
    def _style(self, name: str, text: str) -> str:
        return f"{STYLES[name]}{text}{RESET}" if self.color and text else text

    def _inline(self, text: str) -> str:
        if not self.color or not any(c in text for c in "`*_["):
            return text

        def replace(match: re.Match[str]) -> str:
            code, bold, italic, link = match.groups()
            if code:
                return self._style("code", code[1:-1])
            if bold:
                return self._style("bold", bold[2:-2])
            if italic:
                return self._style("italic", italic[1:-1])
            label, _, url = link[1:-1].partition("](")
            return f"{self._style('link', label)} ({url})"

        return _INLINE.sub(replace, text)

    def render_line(self, line: str) -> str:
        """One complete line, styled (state carries over for fenced code)."""
        fence = _FENCE.match(line)
        if fence:
            self._in_code = not self._in_code
            self._code = _CodeHighlighter(fence.group(2)) if self._in_code and self.color else None
            return self._style("fence", line)
        if self._in_code:
            return self._code.line(line) if self._code else line
        if not self.color:
            return line
        heading = _HEADING.match(line)
        if heading:
            return self._style("heading", heading.group(2))
        if _RULE.match(line):
            return self._style("rule", "─" * min(self.width, 60))
        bullet = _BULLET.match(line)
        if bullet:
            indent, _, rest = bullet.groups()
            return f"{indent}{self._style('bullet', '•')} {self._inline(rest)}"
        numbered = _NUMBERED.match(line)
        if numbered:
            indent, number, rest = numbered.groups()
            return f"{indent}{self._style('bullet', number)} {self._inline(rest)}"
        if line.startswith(">"):
            return self._style("quote", "│ " + line.lstrip(">").lstrip())
        return self._inline(line)
