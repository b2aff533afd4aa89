"""Walking a tree the way a developer expects: no .git, node_modules, virtual environments
or .gitignore'd files; sorted; binary files recognisable."""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ALWAYS_SKIPPED = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "__pycache__",
        ".venv",
        "venv",
        ".tox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)


def glob_regex(pattern: str) -> str:
    """A gitignore glob as a regex over a '/'-separated relative path."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i)
            if end < 0:
                out.append(re.escape(char))
            else:
                out.append(pattern[i : end + 1].replace("[!", "[^"))
                i = end + 1
                continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


# The most one glob match may take: some globs (`**a**a**a...!`) backtrack without end.
GLOB_TIME_BUDGET = 0.05


@functools.lru_cache(maxsize=1024)
def compile_glob(regex_text: str) -> Any:
    """A glob's regex (from `glob_regex`), compiled with an engine that can be stopped."""
    import regex

    return regex.compile(regex_text, regex.DOTALL)


def glob_matches(compiled: Any, text: str) -> bool:
    """Whether a compiled glob matches; TimeoutError past `GLOB_TIME_BUDGET`."""
    return compiled.match(text, timeout=GLOB_TIME_BUDGET) is not None


@dataclass
class _Rule:
    regex: Any
    negated: bool
    directory_only: bool
    broken: bool = False  # it ran past the time budget once: left out from then on


def parse_gitignore(text: str) -> list[_Rule]:
    """Rules of one .gitignore file, in order."""
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line[1:] if negated else line
        directory_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        body = glob_regex(line)
        regex = f"^{body}(?:/.*)?$" if anchored else f"^(?:.*/)?{body}(?:/.*)?$"
        rules.append(_Rule(compile_glob(regex), negated, directory_only))
    return rules


def _ignored(rel: str, is_dir: bool, scopes: list[tuple[str, list[_Rule]]]) -> bool:
    """Whether `rel` (relative to the walk's root) is ignored by the .gitignore scopes above
    it; each scope is (its folder's relative prefix, its rules), outermost first."""
    verdict = False
    for prefix, rules in scopes:
        sub = rel[len(prefix) :]
        for rule in rules:
            if (not rule.directory_only or is_dir) and not rule.broken and _rule_matches(rule, sub):
                verdict = not rule.negated
    return verdict


_GITIGNORE_LIMIT = 1_000_000  # bytes of a .gitignore file that are read


def _rule_matches(rule: _Rule, path: str) -> bool:
    try:
        return glob_matches(rule.regex, path)
    except TimeoutError:
        rule.broken = True  # a hostile .gitignore line: not worth a hang
        return False


def _gitignore_rules(folder: str) -> list[_Rule]:
    """The rules of a folder's .gitignore: a regular file only (not a symlink, a named pipe
    or a device a cloned repository could put there), its first megabyte."""
    try:
        fd = os.open(
            os.path.join(folder, ".gitignore"),
            os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY,
        )
    except OSError:
        return []
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        data = os.read(fd, _GITIGNORE_LIMIT)
    except OSError:
        return []
    finally:
        os.close(fd)
    return parse_gitignore(data.decode("utf-8", errors="replace"))


@dataclass(frozen=True)
class Entry:
    """A file or folder met by `walk`: absolute path, path relative to the root, kind."""

    path: str
    rel: str
    is_dir: bool
    is_symlink: bool


def walk(
    root: Path, *, respect_ignore: bool = True, include_dirs: bool = False, recursive: bool = True
) -> Iterator[Entry]:
    """Entries below `root`, depth first in sorted order, skipping .git, node_modules,
    virtual environments and what .gitignore files ignore. Symlinked folders are not
    entered; symlinks are reported as such so the caller's sandbox can check their target."""

    def visit(folder: str, prefix: str, scopes: list[tuple[str, list[_Rule]]]) -> Iterator[Entry]:
        if respect_ignore:
            rules = _gitignore_rules(folder)
            if rules:
                scopes = [*scopes, (prefix, rules)]
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            is_symlink = entry.is_symlink()
            is_dir = entry.is_dir(follow_symlinks=False)
            rel = prefix + entry.name
            if respect_ignore and (
                entry.name in ALWAYS_SKIPPED
                or (is_dir and os.path.exists(os.path.join(entry.path, "pyvenv.cfg")))
                or _ignored(rel, is_dir, scopes)
            ):
                continue
            if is_dir:
                if include_dirs:
                    yield Entry(entry.path, rel, True, False)
                if recursive:
                    yield from visit(entry.path, rel + "/", scopes)
            else:
                yield Entry(entry.path, rel, False, is_symlink)

    yield from visit(str(root), "", [])


def is_binary(data: bytes) -> bool:
    """Data with a NUL byte in its first 8 KiB is binary."""
    return b"\0" in data[:8192]
