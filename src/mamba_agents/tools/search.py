"""glob_search and grep_search: sorted, capped, sandboxed, ignoring what git ignores."""

from __future__ import annotations

import fnmatch
import functools
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mamba_agents.errors import ToolExecutionError
from mamba_agents.tools._ignore import (
    Entry,
    compile_glob,
    glob_matches,
    glob_regex,
    is_binary,
    walk,
)
from mamba_agents.tools._security import FilesystemSecurity, SandboxError, join_display

if TYPE_CHECKING:
    import regex as regex_engine

__all__ = ["GlobResult", "GrepMatch", "GrepResult", "glob_search", "grep_search"]

DEFAULT_MAX_RESULTS = 200
# Files up to this size are read whole and checked in one regex pass; larger ones stream.
_WHOLE_FILE_LIMIT = 8_000_000
# The most one search of one file (or line) may take: a pattern that backtracks
# catastrophically is stopped instead of hanging the run.
SEARCH_TIME_BUDGET = 2.0


@dataclass(frozen=True)
class GlobResult:
    """Matching file paths relative to the sandbox base, sorted."""

    matches: list[str]
    truncated: bool = False

    def to_text(self) -> str:
        lines = list(self.matches) or ["(no matches)"]
        if self.truncated:
            lines.append(f"[results truncated at {len(self.matches)}]")
        return "\n".join(lines)


@dataclass(slots=True)
class GrepMatch:
    """One matching line with its context."""

    path: str
    line_number: int
    line: str
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GrepResult:
    """Matches in file order; `truncated` says the cap cut them."""

    matches: list[GrepMatch]
    files_searched: int
    truncated: bool = False

    def to_text(self) -> str:
        out = []
        for match in self.matches:
            first = match.line_number - len(match.before)
            out += [f"{match.path}-{first + i}-{text}" for i, text in enumerate(match.before)]
            out.append(f"{match.path}:{match.line_number}:{match.line}")
            out += [
                f"{match.path}-{match.line_number + 1 + i}-{text}"
                for i, text in enumerate(match.after)
            ]
        if not out:
            out.append(f"(no matches in {self.files_searched} files)")
        if self.truncated:
            out.append(f"[results truncated at {len(self.matches)} matches]")
        return "\n".join(out)


def glob_search(
    pattern: str,
    root_dir: str = ".",
    max_results: int = DEFAULT_MAX_RESULTS,
    security: FilesystemSecurity | None = None,
) -> GlobResult:
    """Find files whose path matches a glob pattern, such as `**/*.py` or `src/*.ts`.

    Args:
        pattern: Glob relative to root_dir; `**` crosses folders.
        root_dir: Folder to search, relative to the working directory.
        max_results: Most paths to return.
    """
    security = security if security is not None else FilesystemSecurity()
    root = security.resolve(root_dir)
    prefix = security.display(root)
    regex = compile_glob(f"^{glob_regex(pattern.lstrip('/'))}$")
    matches: list[str] = []
    truncated = False
    for entry in walk(root):
        try:
            found = glob_matches(regex, entry.rel)
        except TimeoutError:
            raise ToolExecutionError(
                f"glob_search: the pattern {pattern!r} takes too long to match (many * and ? "
                "in a row backtrack without end): simplify it"
            ) from None
        if not found or not security.allows_entry(entry):
            continue
        if len(matches) >= max_results:
            truncated = True
            break
        matches.append(join_display(prefix, entry.rel))
    return GlobResult(sorted(matches), truncated)


def grep_search(
    pattern: str,
    path: str = ".",
    file_pattern: str | None = None,
    context_lines: int = 0,
    ignore_case: bool = False,
    max_results: int = DEFAULT_MAX_RESULTS,
    security: FilesystemSecurity | None = None,
    cancel: threading.Event | None = None,
) -> GrepResult:
    """Search file contents for a regular expression, with optional context lines.

    Skips binary files, .git, node_modules, virtual environments and .gitignore'd files.

    Args:
        pattern: Python regular expression.
        path: File or folder to search, relative to the working directory.
        file_pattern: Only files whose name matches this glob, such as `*.py`.
        context_lines: Lines of context before and after each match.
        ignore_case: Match regardless of case.
        max_results: Most matching lines to return.

    One search of one file may take `SEARCH_TIME_BUDGET` seconds; `cancel` (set by the
    runtime when the call is cancelled) stops the search between files.
    """
    import regex as regex_engine  # only searches need it

    security = security if security is not None else FilesystemSecurity()
    root = security.resolve(path)
    try:
        compiled = regex_engine.compile(pattern, regex_engine.IGNORECASE if ignore_case else 0)
    except (regex_engine.error, ValueError) as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    if root.is_file():
        prefix = security.display(root.parent)
        entries: Iterable[Entry] = [Entry(str(root), root.name, False, False)]
    else:
        prefix = security.display(root)
        entries = walk(root)
    matches: list[GrepMatch] = []
    searched = 0
    for entry in entries:
        if cancel is not None and cancel.is_set():
            raise ToolExecutionError("grep_search was cancelled")
        if file_pattern and not fnmatch.fnmatch(entry.rel.rsplit("/", 1)[-1], file_pattern):
            continue
        if not security.allows_entry(entry):
            continue
        remaining = max_results - len(matches)
        shown = join_display(prefix, entry.rel)
        try:
            found = _grep_file(security, entry, compiled, context_lines, remaining + 1, shown)
        except TimeoutError:
            raise ToolExecutionError(
                f"grep_search: the pattern took over {SEARCH_TIME_BUDGET:g} s on {shown}; it "
                "backtracks too much (nested repeats such as (a+)+ or (a|aa)+): simplify it"
            ) from None
        if found is None:
            continue
        searched += 1
        if len(found) > remaining:
            matches.extend(found[:remaining])
            return GrepResult(matches, searched, truncated=True)
        matches.extend(found)
    return GrepResult(matches, searched)


def _open_entry(security: FilesystemSecurity, entry: Entry) -> int | None:
    """A descriptor of a walked regular file, opened without following links past the
    sandbox check; None for what cannot or may not be read (pipes, devices, vanished)."""
    try:
        real = os.path.realpath(entry.path) if entry.is_symlink else entry.path
        return security.open_file(real, os.O_RDONLY)
    except (OSError, SandboxError):
        return None


def _grep_file(
    security: FilesystemSecurity,
    entry: Entry,
    regex: regex_engine.Pattern[str],
    context: int,
    limit: int,
    shown: str,
) -> list[GrepMatch] | None:
    """Matches in one file; None when it is binary or unreadable. Reads a file once: small
    files whole, found with one multi-line regex pass, large ones line by line."""
    fd = _open_entry(security, entry)
    if fd is None:
        return None
    try:
        size = os.fstat(fd).st_size
        if size > security.max_file_size:
            return None  # what read_file would refuse, grep does not show either
        if size > _WHOLE_FILE_LIMIT:
            with os.fdopen(fd, "rb") as handle:
                fd = -1
                if is_binary(handle.read(8192)):
                    return None
                handle.seek(0)
                lines = (raw.decode("utf-8", errors="replace").rstrip("\r\n") for raw in handle)
                return _match_lines(lines, regex, context, limit, shown, _Budget())
        data = os.read(fd, size + 1)
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)
    if is_binary(data):
        return None
    text = data.decode("utf-8", errors="replace")
    if context:
        budget = _Budget()
        if not budget.search(_multiline(regex), text):
            return []
        return _match_lines(text.splitlines(), regex, context, limit, shown, budget)
    return _match_text(text, regex, limit, shown, _Budget())


class _Budget:
    """The time one file's search may take (`SEARCH_TIME_BUDGET`), over all its steps."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + SEARCH_TIME_BUDGET

    def left(self) -> float:
        """Seconds left; TimeoutError when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    def search(
        self, regex: regex_engine.Pattern[str], text: str, position: int = 0
    ) -> regex_engine.Match[str] | None:
        """One search within what is left (other threads run meanwhile)."""
        return regex.search(text, position, timeout=self.left(), concurrent=True)


@functools.cache
def _multiline(regex: regex_engine.Pattern[str]) -> regex_engine.Pattern[str]:
    """The same pattern with `^` and `$` at every line, for searching a whole file."""
    import regex as regex_engine

    return regex_engine.compile(regex.pattern, regex.flags | regex_engine.MULTILINE)


def _match_text(
    text: str, regex: regex_engine.Pattern[str], limit: int, shown: str, budget: _Budget
) -> list[GrepMatch]:
    """Matching lines of a whole file, found by one pass of the multi-line pattern. A hit
    that spans lines, or a pattern that can look past its line, is confirmed on its line
    alone (a match may not span lines)."""
    found: list[GrepMatch] = []
    number, counted = 1, 0
    reported = -1  # where the last reported line ends
    confirm_all = "(?" in regex.pattern
    hits = _multiline(regex).finditer(text, timeout=budget.left(), concurrent=True)
    for hit in hits:
        if hit.start() <= reported:
            continue
        start = text.rfind("\n", 0, hit.start()) + 1
        end = text.find("\n", hit.start())
        end = len(text) if end < 0 else end
        line = text[start:end].rstrip("\r")
        if (confirm_all or hit.end() > end) and not budget.search(regex, line):
            continue
        number += text.count("\n", counted, start)
        counted = start
        found.append(GrepMatch(shown, number, line))
        reported = end
        if len(found) >= limit:
            break
    return found


def _match_lines(
    lines: Iterable[str],
    regex: regex_engine.Pattern[str],
    context: int,
    limit: int,
    shown: str,
    budget: _Budget,
) -> list[GrepMatch]:
    found: list[GrepMatch] = []
    before: deque[str] = deque(maxlen=context)
    pending: list[GrepMatch] = []
    for number, line in enumerate(lines, 1):
        for match in pending:
            match.after.append(line)
        pending = [m for m in pending if len(m.after) < context]
        if budget.search(regex, line):
            if len(found) >= limit:
                break
            match = GrepMatch(shown, number, line, list(before))
            found.append(match)
            if context:
                pending.append(match)
        before.append(line)
    return found
