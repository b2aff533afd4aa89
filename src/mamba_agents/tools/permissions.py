"""Permission rules: which tool calls run, which are refused, which need a person's yes.

A rule is a tool name (glob) with an optional argument pattern in parentheses:
`read_file`, `run_bash(git *)`, `write_file(src/**)`, `mcp__*`. Deny beats ask, ask beats
allow; with no rule, read-only tools are allowed and everything else asks.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from mamba_agents.tools._ignore import _pattern_regex

RISKS = ("read", "write", "execute")
_RULE = re.compile(r"^\s*([A-Za-z0-9_*?.\-]+)\s*(?:\((.*)\))?\s*$", re.S)
# The argument a rule's pattern is matched against, per tool.
SUBJECT_ARGUMENTS = {
    "run_bash": ("command",),
    "read_file": ("path",),
    "write_file": ("path",),
    "append_file": ("path",),
    "delete_file": ("path",),
    "file_info": ("path",),
    "list_directory": ("path",),
    "grep_search": ("path",),
    "glob_search": ("root_dir",),
    "move_file": ("source", "destination"),
    "copy_file": ("source", "destination"),
}
_COMMAND_TOOLS = {"run_bash"}


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

    def matches(self, tool: str, arguments: dict[str, Any]) -> bool:
        """Whether the rule touches this call: for a chained command (`a; b`, `a | b`, ...)
        whether it matches any part of it."""
        if not fnmatch.fnmatchcase(tool, self.tool):
            return False
        if self.whole_tool:
            return True
        subjects = _subjects(tool, arguments)
        if subjects is None:
            return False
        if tool in _COMMAND_TOOLS:
            return any(_command_matches(self.pattern, p) for p in command_parts(subjects[0])[0])
        return all(_path_matches(self.pattern, s) for s in subjects)


def _subjects(tool: str, arguments: dict[str, Any]) -> list[str] | None:
    subjects = [arguments.get(name) for name in SUBJECT_ARGUMENTS.get(tool, ())]
    if not subjects or any(not isinstance(s, str) for s in subjects):
        return None
    return subjects


def _allowed_by(rules: list[Rule], tool: str, arguments: dict[str, Any]) -> list[Rule]:
    """The allow rules that together cover the call, or [] when they do not.

    Every part of a chained command must be covered (each by any rule); a command that
    hides commands in substitutions is covered only by a whole-tool rule.
    """
    mine = [r for r in rules if fnmatch.fnmatchcase(tool, r.tool)]
    whole = [r for r in mine if r.whole_tool]
    if whole:
        return whole[:1]
    subjects = _subjects(tool, arguments)
    if subjects is None:
        return []
    if tool not in _COMMAND_TOOLS:
        return [r for r in mine if r.matches(tool, arguments)][:1]
    parts, opaque = command_parts(subjects[0])
    if opaque or not parts:
        return []
    used: list[Rule] = []
    for part in parts:
        rule = next((r for r in mine if _command_matches(r.pattern or "*", part)), None)
        if rule is None:
            return []
        if rule not in used:
            used.append(rule)
    return used


def _normal_path(value: str) -> str:
    text = PurePosixPath(value.strip()).as_posix()
    return text[2:] if text.startswith("./") else text


_OPERATORS = {";", "&&", "||", "|", "&", "|&", ";;", "(", ")", "\n"}


def command_parts(command: str) -> tuple[list[str], bool]:
    """The simple commands of a command line, split on shell operators outside quotes, and
    whether it hides commands in substitutions (`$(...)`, backticks, `<(...)`)."""
    opaque = any(marker in command for marker in ("$(", "`", "<(", ">("))
    lexer = shlex.shlex(command.replace("\n", " ; "), posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    parts: list[str] = []
    current: list[str] = []
    try:
        tokens = list(lexer)
    except ValueError:
        return [command.strip()], True
    for token in tokens:
        if token in _OPERATORS:
            if current:
                parts.append(" ".join(current))
            current = []
        else:
            current.append(token)
    if current:
        parts.append(" ".join(current))
    return parts, opaque


def _command_matches(pattern: str, command: str) -> bool:
    # `*` matches anything; `git *` also matches plain `git`.
    if fnmatch.fnmatchcase(command, pattern):
        return True
    return pattern.endswith(" *") and command == pattern[:-2]


def _path_matches(pattern: str, subject: str) -> bool:
    regex = f"^{_pattern_regex(_normal_path(pattern))}(?:/.*)?$"
    return re.match(regex, _normal_path(subject)) is not None


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

    `allow_all` allows whatever no deny rule refuses.
    """

    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    ask: list[str] = field(default_factory=list)
    allow_all: bool = False

    def __post_init__(self) -> None:
        self._parsed = {
            kind: [Rule.parse(t) for t in getattr(self, kind)] for kind in ("deny", "ask", "allow")
        }

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
                if rule.matches(tool, arguments):
                    return Decision(kind, f"matches {kind} rule {rule.text}", (rule.text,))
        allowed = _allowed_by(self._parsed["allow"], tool, arguments)
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


def suggest_rule(tool: str, arguments: dict[str, Any]) -> str:
    """The narrowest rule that allows exactly this call again (for "always" answers)."""
    names = SUBJECT_ARGUMENTS.get(tool, ())
    values = [arguments.get(n) for n in names]
    if len(values) == 1 and isinstance(values[0], str) and values[0].strip():
        value = values[0].strip() if tool in _COMMAND_TOOLS else _normal_path(values[0])
        if not any(c in value for c in "*?[()"):
            return f"{tool}({value})"
    return tool


def describe_rule(rule: str) -> str:
    """A rule in words, so a person sees exactly what it matches."""
    parsed = Rule.parse(rule)
    tools = (
        f"tools matching '{parsed.tool}'" if any(c in parsed.tool for c in "*?") else parsed.tool
    )
    if parsed.pattern is None or parsed.pattern == "*":
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
