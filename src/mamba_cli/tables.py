"""Tables on stdout: drawn with rich on a terminal, one tab-separated line per row when piped.
Words a cell marks (`MARK`...`END_MARK`) are drawn bold; piped, the marks are dropped."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mamba_cli import output


@dataclass(frozen=True)
class Column:
    """A column's header; `right` aligns it right (numbers); on a terminal, the long cells
    of a `wrap` column wrap onto more lines, others are cut short with an ellipsis, and a
    column with a `share` is at most that share of the terminal's width."""

    header: str
    right: bool = False
    wrap: bool = False
    share: float | None = None


# What would end a cell or a row in the piped form.
_BREAKS = re.compile(r"[\t\r\n]+")
# A cell's words between MARK and END_MARK (a search's matches) are emphasised on a terminal.
MARK, END_MARK = "\ue000", "\ue001"
_MARKS = re.compile(f"[{MARK}{END_MARK}]")
_MARKED = re.compile(f"{MARK}([^{END_MARK}]*){END_MARK}")


def _cell(text: str, make_text: Any) -> Any:
    """A cell as rich Text, its marked words bold."""
    cell = make_text()
    position = 0
    for match in _MARKED.finditer(text):
        cell.append(_MARKS.sub("", text[position : match.start()]))
        cell.append(match.group(1), "bold")
        position = match.end()
    cell.append(_MARKS.sub("", text[position:]))
    return cell


def print_table(columns: Sequence[Column], rows: Iterable[Sequence[str]]) -> None:
    """The rows on stdout. On a terminal: a table with a header row, fitted to the
    terminal's width, coloured unless --no-color or NO_COLOR. Piped: one line per row, the
    cells separated by tabs, no header, no ANSI."""
    if sys.stdout.isatty():
        _draw(columns, rows)
        return
    for row in rows:
        sys.stdout.write("\t".join(_BREAKS.sub(" ", _MARKS.sub("", cell)) for cell in row) + "\n")
    sys.stdout.flush()


def _draw(columns: Sequence[Column], rows: Iterable[Sequence[str]]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    color = output.color_on(sys.stdout)
    console = Console(color_system="auto" if color else None, highlight=False)
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        header_style="bold",
    )
    for column in columns:
        table.add_column(
            column.header,
            justify="right" if column.right else "left",
            no_wrap=not column.wrap,
            overflow="fold" if column.wrap else "ellipsis",
            max_width=int(console.width * column.share) if column.share else None,
        )
    for row in rows:
        table.add_row(*(_cell(output.terminal_safe(cell), Text) for cell in row))
    console.print(table)
