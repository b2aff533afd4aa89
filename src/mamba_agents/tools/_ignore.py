"""Walking a tree the way a developer expects: no .git, node_modules, virtual environments
or .gitignore'd files; sorted; binary files recognisable."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def _pattern_regex(pattern: str) -> str:
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


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negated: bool
    directory_only: bool


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
        body = _pattern_regex(line)
        regex = f"^{body}(?:/.*)?$" if anchored else f"^(?:.*/)?{body}(?:/.*)?$"
        rules.append(_Rule(re.compile(regex), negated, directory_only))
    return rules


class IgnoreRules:
    """The .gitignore files met while walking down from a root, each scoped to its folder."""

    def __init__(self, root: Path):
        self.root = root
        self._by_dir: dict[Path, list[_Rule]] = {}

    def _rules_for(self, folder: Path) -> list[_Rule]:
        if folder not in self._by_dir:
            path = folder / ".gitignore"
            try:
                rules = parse_gitignore(path.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                rules = []
            self._by_dir[folder] = rules
        return self._by_dir[folder]

    def ignored(self, path: Path, is_dir: bool) -> bool:
        """Whether `path` (under the root) is ignored by a .gitignore above it."""
        if path.name in ALWAYS_SKIPPED or (is_dir and (path / "pyvenv.cfg").exists()):
            return True
        verdict = False
        folder = path.parent
        chain = []
        while True:
            chain.append(folder)
            if folder == self.root or self.root not in folder.parents:
                break
            folder = folder.parent
        for folder in reversed(chain):
            relative = path.relative_to(folder).as_posix()
            for rule in self._rules_for(folder):
                if rule.directory_only and not is_dir:
                    continue
                if rule.regex.match(relative):
                    verdict = not rule.negated
        return verdict


def walk(root: Path, *, respect_ignore: bool = True) -> Iterator[Path]:
    """Every file below `root`, depth first in sorted order, skipping ignored files and
    folders. Symlinked folders are not followed (the caller's sandbox checks every path)."""
    rules = IgnoreRules(root)

    def visit(folder: Path) -> Iterator[Path]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            path = Path(entry.path)
            is_dir = entry.is_dir(follow_symlinks=False)
            if respect_ignore and rules.ignored(path, is_dir):
                continue
            if is_dir:
                yield from visit(path)
            else:
                yield path

    yield from visit(root)


def is_binary(path: Path, sniff: int = 8192) -> bool:
    """A file with a NUL byte in its first bytes is binary."""
    try:
        with path.open("rb") as handle:
            return b"\0" in handle.read(sniff)
    except OSError:
        return True
