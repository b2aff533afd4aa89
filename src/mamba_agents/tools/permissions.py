"""Permission rules: which tool calls run, which are refused, which need a person's yes.

A rule is a tool name (glob) with an optional argument pattern in parentheses:
`read_file`, `run_bash(git *)`, `write_file(src/**)`, `mcp__*`. Deny beats ask, ask beats
allow; with no rule, read-only tools are allowed and everything else asks.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamba_agents.tools._ignore import compile_glob, glob_matches, glob_regex
from mamba_agents.tools._security import shown_path
from mamba_agents.tools._shell import command_forms, split_command

RISKS = ("read", "write", "execute")
_RULE = re.compile(r"^\s*([A-Za-z0-9_*?.\-]+)\s*(?:\((.*)\))?\s*$", re.S)
# The arguments a rule's pattern is matched against, per tool, with their defaults.
SUBJECT_ARGUMENTS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "run_bash": (("command", None),),
    "read_file": (("path", None),),
    "write_file": (("path", None),),
    "edit_file": (("path", None),),
    "append_file": (("path", None),),
    "delete_file": (("path", None),),
    "file_info": (("path", None),),
    "list_directory": (("path", "."),),
    "grep_search": (("path", "."),),
    "glob_search": (("root_dir", "."),),
    "move_file": (("source", None), ("destination", None)),
    "copy_file": (("source", None), ("destination", None)),
}
_COMMAND_TOOLS = {"run_bash"}
# Tools whose results show what files hold or which files exist.
_READING_TOOLS = ("read_file", "grep_search", "glob_search", "list_directory", "file_info")


class RuleError(ValueError):
    """A permission rule that cannot be parsed."""


@dataclass(frozen=True)
class Rule:
    """One parsed rule; `text` is how it was written."""

    text: str
    tool: str
    pattern: str | None

    @classmethod
    def parse(cls, text: str) -> Rule:
        match = _RULE.match(text)
        if not match:
            raise RuleError(f"invalid permission rule {text!r}: expected TOOL or TOOL(PATTERN)")
        pattern = match.group(2)
        return cls(text.strip(), match.group(1), pattern.strip() if pattern is not None else None)

    @property
    def whole_tool(self) -> bool:
        """A rule without a pattern covers every call of its tools."""
        return self.pattern is None or self.pattern == "*"

    def names(self, tool: str) -> bool:
        """Whether the rule is about this tool."""
        return fnmatch.fnmatchcase(tool, self.tool)

    def touches(self, tool: str, arguments: dict[str, Any], base: Path) -> bool:
        """Whether a deny or ask rule applies to this call: any part of a chained command,
        or any path argument (as written or with symlinks followed). A command line that
        can only be known by running it is touched by every rule of its tool."""
        if not self.names(tool):
            return False
        if self.whole_tool:
            return True
        subjects = _subjects(tool, arguments)
        if subjects is None:
            return False
        if tool in _COMMAND_TOOLS:
            parsed = split_command(subjects[0])
            if parsed.opaque:
                return True
            for words in parsed.commands:
                forms, opaque = command_forms(words)
                if opaque or any(_command_matches(self.pattern or "*", f) for f in forms):
                    return True
            return False
        pattern = _rule_path(self.pattern or "", base)
        forms = [f for s in _subject_paths(tool, subjects, base) for f in _path_forms(s, base)]
        if any(_path_matches(pattern, form) for form in forms):
            return True
        if tool == "move_file" and os.path.isdir(os.path.join(base, subjects[0])):
            return any(_may_hold(pattern, form) for form in _path_forms(subjects[0], base))
        return False


def _subjects(tool: str, arguments: dict[str, Any]) -> list[str] | None:
    subjects = [arguments.get(name, default) for name, default in SUBJECT_ARGUMENTS.get(tool, ())]
    if not subjects or any(not isinstance(s, str) for s in subjects):
        return None
    return subjects


def _allowed_by(rules: list[Rule], tool: str, arguments: dict[str, Any], base: Path) -> list[Rule]:
    """The allow rules that together cover the call, or [] when they do not.

    Every part of a chained command must be covered (each by any rule), and every path
    argument, both as written and with symlinks followed, by one rule; a command line that
    can only be known by running it is covered only by a whole-tool rule.
    """
    mine = [r for r in rules if r.names(tool)]
    whole = [r for r in mine if r.whole_tool]
    if whole:
        return whole[:1]
    subjects = _subjects(tool, arguments)
    if subjects is None:
        return []
    if tool not in _COMMAND_TOOLS:
        paths = _subject_paths(tool, subjects, base)
        forms = [form for s in paths for form in _path_forms(s, base)]
        for rule in mine:
            pattern = _rule_path(rule.pattern or "", base)
            if all(_path_matches(pattern, form) for form in forms):
                return [rule]
        return []
    parsed = split_command(subjects[0])
    if parsed.opaque or not parsed.commands:
        return []
    used: list[Rule] = []
    for part in parsed.texts():
        rule = next((r for r in mine if _command_matches(r.pattern or "*", part)), None)
        if rule is None:
            return []
        if rule not in used:
            used.append(rule)
    return used


def _rule_path(pattern: str, base: Path) -> str:
    """A rule's path pattern made comparable: `..` and `.` folded, absolute paths inside
    the sandbox made relative to it."""
    text = os.path.expanduser(pattern.strip())
    return shown_path(os.path.normpath(os.path.join(base, text)), base)


def _path_forms(value: str, base: Path) -> list[str]:
    """A path argument as rules see it, in every spelling the tool may act on: as written
    with `..` folded, with symlinks followed (before `..`, as the file system does), and
    with only its folders' symlinks followed; each relative to the sandbox base when
    inside it. `~` is expanded as the tools expand it (only at the very start)."""
    joined = os.path.join(base, os.path.expanduser(value))
    forms = [shown_path(os.path.normpath(joined), base)]
    with contextlib.suppress(OSError, ValueError):
        folder, name = os.path.split(joined)
        for spelling in (
            os.path.realpath(joined),
            os.path.join(os.path.realpath(folder), name) if name not in ("", ".", "..") else "",
        ):
            shown = shown_path(spelling, base) if spelling else ""
            if shown and shown not in forms:
                forms.append(shown)
    return forms


def _subject_paths(tool: str, subjects: list[str], base: Path) -> list[str]:
    """Every path a file tool's call may write or read: for `copy_file` and `move_file`
    into an existing folder, the file it creates there too."""
    if tool in ("copy_file", "move_file") and len(subjects) == 2:
        source, destination = subjects
        target = os.path.join(base, os.path.expanduser(destination))
        if os.path.isdir(target):
            return [*subjects, os.path.join(destination, os.path.basename(source.rstrip("/")))]
    return subjects


def _may_hold(pattern: str, folder: str) -> bool:
    """Whether a path pattern may match something inside `folder` (moving a folder moves
    what it holds)."""
    if folder == ".":
        return True
    literal = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    inside = folder.rstrip("/") + "/"
    return literal.startswith(inside) or (literal != pattern and inside.startswith(literal))


def command_parts(command: str) -> tuple[list[str], bool]:
    """The simple commands of a command line (split as bash splits it) and whether it
    hides commands that only running it would show (substitutions, here-documents, ...)."""
    parsed = split_command(command)
    return parsed.texts(), parsed.opaque


def _command_matches(pattern: str, command: str) -> bool:
    # `*` matches anything; `git *` also matches plain `git`.
    if fnmatch.fnmatchcase(command, pattern):
        return True
    return pattern.endswith(" *") and command == pattern[:-2]


def _path_matches(pattern: str, subject: str) -> bool:
    if pattern == ".":
        return True
    if pattern in _COSTLY_PATTERNS:
        return True
    try:
        return glob_matches(compile_glob(f"^{glob_regex(pattern)}(?:/.*)?$"), subject)
    except TimeoutError:
        # A pattern too costly to decide covers every path: it can deny or ask, never allow.
        _COSTLY_PATTERNS.add(pattern)
        return True


_COSTLY_PATTERNS: set[str] = set()


@dataclass(frozen=True)
class Decision:
    """`action` is `allow`, `deny` or `ask`; `rules` are the deciding rules' texts (several
    when the parts of a chained command are allowed by different rules)."""

    action: str
    reason: str
    rules: tuple[str, ...] = ()


@dataclass
class PermissionPolicy:
    """Allow, ask and deny rules plus the defaults by risk class.

    `allow_all` allows whatever no deny rule refuses. Path patterns and path arguments are
    compared as paths inside `base` (the sandbox folder; default: the current directory),
    with `..` folded and symlinks followed.
    """

    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    ask: list[str] = field(default_factory=list)
    allow_all: bool = False
    base: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        self._parsed = {
            kind: [Rule.parse(t) for t in getattr(self, kind)] for kind in ("deny", "ask", "allow")
        }
        self._base = Path(self.base if self.base is not None else os.getcwd()).resolve()

    def add(self, kind: str, rule: str) -> Rule:
        """Add a rule (as an "always" answer does) and return it parsed."""
        parsed = Rule.parse(rule)
        getattr(self, kind).append(parsed.text)
        self._parsed[kind].append(parsed)
        return parsed

    def decide(self, tool: str, arguments: dict[str, Any], risk: str) -> Decision:
        """What happens to this call, and why."""
        for kind in ("deny", "ask"):
            for rule in self._parsed[kind]:
                if rule.touches(tool, arguments, self._base):
                    return Decision(kind, _touch_reason(kind, rule, tool, arguments), (rule.text,))
        allowed = _allowed_by(self._parsed["allow"], tool, arguments, self._base)
        if allowed:
            texts = ", ".join(r.text for r in allowed)
            plural = "rules" if len(allowed) > 1 else "rule"
            return Decision(
                "allow", f"matches allow {plural} {texts}", tuple(r.text for r in allowed)
            )

        if self.allow_all:
            return Decision("allow", "--allow-all (no deny rule matches)")
        if risk == "read":
            return Decision("allow", "read-only tools are allowed by default")
        return Decision("ask", f"{risk} tools need permission (no rule matches)")

    def hides(self, path: str) -> bool:
        """Whether search and listing results must leave out a path: a deny or ask rule
        on a reading tool (`read_file`, `grep_search`, ...) covers it."""
        rules = self._reading_rules()
        if any(rule.whole_tool for rule in rules):
            return True
        forms = _path_forms(path, self._base) if rules else []
        return any(
            _path_matches(_rule_path(rule.pattern or "", self._base), form)
            for rule in rules
            for form in forms
        )

    @property
    def hides_anything(self) -> bool:
        """Whether `hides` can be true for some path (so searches need to ask it)."""
        return bool(self._reading_rules())

    def _reading_rules(self) -> list[Rule]:
        """The deny and ask rules about a reading tool."""
        return [
            rule
            for kind in ("deny", "ask")
            for rule in self._parsed[kind]
            if any(rule.names(tool) for tool in _READING_TOOLS)
        ]


def _touch_reason(kind: str, rule: Rule, tool: str, arguments: dict[str, Any]) -> str:
    if tool in _COMMAND_TOOLS and not rule.whole_tool:
        subjects = _subjects(tool, arguments)
        if subjects and split_command(subjects[0]).opaque:
            return (
                f"{kind} rule {rule.text} cannot be ruled out: the command uses substitutions "
                "or expansions that only running it would show"
            )
    return f"matches {kind} rule {rule.text}"


def suggest_rule(tool: str, arguments: dict[str, Any]) -> str:
    """The narrowest rule that allows exactly this call again (for "always" answers)."""
    values = [arguments.get(name) for name, _ in SUBJECT_ARGUMENTS.get(tool, ())]
    if len(values) == 1 and isinstance(values[0], str) and values[0].strip():
        value = values[0].strip()
        if tool not in _COMMAND_TOOLS:
            value = os.path.normpath(value)
        if not any(c in value for c in "*?[()"):
            return f"{tool}({value})"
    return tool


def describe_rule(rule: str) -> str:
    """A rule in words, so a person sees exactly what it matches."""
    parsed = Rule.parse(rule)
    tools = (
        f"tools matching '{parsed.tool}'" if any(c in parsed.tool for c in "*?") else parsed.tool
    )
    if parsed.whole_tool:
        return f"every call of {tools}"
    if parsed.tool in _COMMAND_TOOLS:
        if any(c in parsed.pattern for c in "*?["):
            return f"{tools} with a command matching '{parsed.pattern}'"
        return f"{tools} with exactly the command '{parsed.pattern}'"
    if any(c in parsed.pattern for c in "*?["):
        return f"{tools} on paths matching '{parsed.pattern}'"
    return f"{tools} on '{parsed.pattern}' (and anything inside it, if a folder)"


def parse_rules(rules: Iterable[str], where: str) -> list[str]:
    """Validate rules, raising RuleError that names where they came from."""
    out = []
    for rule in rules:
        try:
            out.append(Rule.parse(rule).text)
        except RuleError as exc:
            raise RuleError(f"{where}: {exc}") from None
    return out
