"""glob_search and grep_search: sorted, capped, sandboxed, ignoring what git ignores."""

from __future__ import annotations

import fnmatch
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from mamba_agents.tools._ignore import _pattern_regex, is_binary, walk
from mamba_agents.tools._security import FilesystemSecurity

__all__ = ["GlobResult", "GrepMatch", "GrepResult", "glob_search", "grep_search"]

DEFAULT_MAX_RESULTS = 200
# Files up to this size are checked for any match in one regex pass before reading lines.
_WHOLE_FILE_LIMIT = 8_000_000


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


@dataclass(frozen=True)
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
    regex = re.compile(f"^{_pattern_regex(pattern.lstrip('/'))}$")
    matches: list[str] = []
    truncated = False
    for path in walk(root):
        if not regex.match(path.relative_to(root).as_posix()) or not security.allows(path):
            continue
        if not path.is_file():
            continue
        if len(matches) >= max_results:
            truncated = True
            break
        matches.append(security.display(path.resolve()))
    return GlobResult(sorted(matches), truncated)


def grep_search(
    pattern: str,
    path: str = ".",
    file_pattern: str | None = None,
    context_lines: int = 0,
    ignore_case: bool = False,
    max_results: int = DEFAULT_MAX_RESULTS,
    security: FilesystemSecurity | None = None,
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
    """
    security = security if security is not None else FilesystemSecurity()
    root = security.resolve(path)
    try:
        regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    files = [root] if root.is_file() else walk(root)
    matches: list[GrepMatch] = []
    searched = 0
    for file in files:
        if file_pattern and not fnmatch.fnmatch(file.name, file_pattern):
            continue
        if not file.is_file() or not security.allows(file) or is_binary(file):
            continue
        searched += 1
        remaining = max_results - len(matches)
        found = _grep_file(
            file, regex, context_lines, remaining + 1, security.display(file.resolve())
        )
        if len(found) > remaining:
            matches.extend(found[:remaining])
            return GrepResult(matches, searched, truncated=True)
        matches.extend(found)
    return GrepResult(matches, searched)


def _grep_file(
    file: Path, regex: re.Pattern[str], context: int, limit: int, shown: str
) -> list[GrepMatch]:
    try:
        if file.stat().st_size <= _WHOLE_FILE_LIMIT:
            with file.open(encoding="utf-8", errors="replace") as handle:
                if not regex.search(handle.read()):
                    return []
        found: list[GrepMatch] = []
        before: deque[str] = deque(maxlen=context)
        pending: list[GrepMatch] = []
        with file.open(encoding="utf-8", errors="replace") as handle:
            for number, raw in enumerate(handle, 1):
                line = raw.rstrip("\n")
                for match in pending:
                    match.after.append(line)
                pending = [m for m in pending if len(m.after) < context]
                if regex.search(line):
                    if len(found) >= limit:
                        break
                    match = GrepMatch(shown, number, line, list(before))
                    found.append(match)
                    if context:
                        pending.append(match)
                before.append(line)
            return found
    except OSError:
        return []
