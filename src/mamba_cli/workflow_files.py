"""Workflow files: TOML naming agents and the pattern that composes them.

Found in `./.mamba/workflows/NAME.toml` (the project's) and
`$XDG_CONFIG_HOME/mamba/workflows/NAME.toml` (the user's); a project file of the same name
comes first. Every key is checked; a bad file is one error naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUILT_IN = {
    "react": "reason and act with the tools until a final answer (ReAct)",
    "plan-execute": "write a plan, carry out each step with the tools, then answer",
}
PATTERNS = ("chain", "parallel", "router", "evaluator_optimizer", "react", "plan_execute")
RESERVED = frozenset({"list", "show", *BUILT_IN})
_AGENT_KEYS = {"description": str, "system_prompt": str, "model": str, "tools": list}
_LIMIT_KEYS = {"max_steps": int, "max_iterations": int, "timeout_seconds": float}
_PATTERN_KEYS: dict[str, dict[str, Any]] = {
    "chain": {"sequence": list, "cumulative": bool},
    "parallel": {"fan_out": list, "fan_in": str, "include_request": bool},
    "router": {"agents": list, "router": str},
    "evaluator_optimizer": {
        "generator": str,
        "evaluator": str,
        "min_rating": str,
        "max_refinements": int,
    },
    "react": {
        "agent": str,
        "expose_reasoning": bool,
        "max_consecutive_thoughts": int,
        "tool_retry_count": int,
        "final_answer_tool_name": str,
    },
    "plan_execute": {"agent": str, "max_plan_steps": int, "max_replans": int},
}
_REQUIRED = {
    "chain": ("sequence",),
    "parallel": ("fan_out",),
    "router": ("agents",),
    "evaluator_optimizer": ("generator", "evaluator"),
    "react": (),
    "plan_execute": (),
}


@dataclass(frozen=True)
class AgentSpec:
    """One `[agents.NAME]` table."""

    name: str
    description: str = ""
    system_prompt: str = ""
    model: str | None = None
    tools: tuple[str, ...] | None = None


@dataclass(frozen=True)
class WorkflowSpec:
    """A workflow file (or a built-in), checked."""

    name: str
    pattern: str
    description: str = ""
    path: Path | None = None
    agents: dict[str, AgentSpec] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)

    def agent_names(self) -> list[str]:
        """The agents the pattern uses, in the order they act."""
        o = self.options
        if self.pattern == "chain":
            return list(o["sequence"])
        if self.pattern == "parallel":
            return [*o["fan_out"], *([o["fan_in"]] if o.get("fan_in") else [])]
        if self.pattern == "router":
            return [*([o["router"]] if o.get("router") else []), *o["agents"]]
        if self.pattern == "evaluator_optimizer":
            return [o["generator"], o["evaluator"]]
        return [o["agent"]] if o.get("agent") else []


def folders() -> list[Path]:
    """Where workflow files are looked for, the project's first."""
    from mamba_agents.paths import config_home

    return [Path.cwd() / ".mamba" / "workflows", config_home() / "workflows"]


def find(name: str) -> WorkflowSpec:
    """The built-in or the file called `name` (a path to a .toml file works too)."""
    from mamba_agents.errors import ConfigError

    if name in BUILT_IN:
        pattern = name.replace("-", "_")
        return WorkflowSpec(name, pattern, BUILT_IN[name])
    if name.endswith(".toml"):
        return load(Path(name))
    for folder in folders():
        path = folder / f"{name}.toml"
        if path.is_file():
            return load(path)
    known = ", ".join([*BUILT_IN, *sorted(found())]) or "none"
    raise ConfigError(f"no workflow named {name!r} (known: {known}; see 'mamba workflow list')")


def found() -> dict[str, Path]:
    """The workflow files found, by name (a project file hides a user file of its name)."""
    files: dict[str, Path] = {}
    for folder in folders():
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
            files.setdefault(path.stem, path)
    return files


def load(path: Path) -> WorkflowSpec:
    """Read and check a workflow file."""
    from mamba_agents.config import read_toml

    return _checked(path, read_toml(path))


def _checked(path: Path, data: dict[str, Any]) -> WorkflowSpec:
    from mamba_agents.errors import ConfigError

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"{path}: {key}: {message}")

    if path.stem in RESERVED:
        raise fail("name", f"{path.stem!r} is taken by a built-in command or workflow")
    pattern = data.get("pattern")
    if pattern not in PATTERNS:
        raise fail("pattern", f"must be one of {', '.join(PATTERNS)}; got {pattern!r}")
    top = {"description": str, "pattern": str, "agents": dict, pattern: dict, **_LIMIT_KEYS}
    _check_table(data, top, "", fail)
    agents = {}
    for name, table in (data.get("agents") or {}).items():
        if not isinstance(table, dict):
            raise fail(f"agents.{name}", "must be a table")
        _check_table(table, _AGENT_KEYS, f"agents.{name}.", fail)
        tools = table.get("tools")
        if tools is not None and not all(isinstance(t, str) for t in tools):
            raise fail(f"agents.{name}.tools", "must be a list of tool names")
        agents[name] = AgentSpec(
            name,
            table.get("description", ""),
            table.get("system_prompt", ""),
            table.get("model"),
            tuple(tools) if tools is not None else None,
        )
    options = dict(data.get(pattern) or {})
    _check_table(options, _PATTERN_KEYS[pattern], f"{pattern}.", fail)
    for key in _REQUIRED[pattern]:
        if key not in options:
            raise fail(f"{pattern}.{key}", "is required")
    spec = WorkflowSpec(
        path.stem,
        pattern,
        data.get("description", ""),
        path,
        agents,
        options,
        {k: data[k] for k in _LIMIT_KEYS if k in data},
    )
    names = spec.agent_names()
    for key in ("sequence", "fan_out", "agents"):
        if key in options and (
            not options[key] or not all(isinstance(n, str) for n in options[key])
        ):
            raise fail(f"{pattern}.{key}", "must be a non-empty list of agent names")
    for name in names:
        if name not in agents:
            known = ", ".join(agents) or "none"
            raise fail(
                f"{pattern}", f"names agent {name!r}, which has no [agents.{name}] ({known})"
            )
    if len(set(names)) != len(names):
        raise fail(pattern, "names one agent twice")
    return spec


def _check_table(table: dict[str, Any], allowed: dict[str, Any], prefix: str, fail: Any) -> None:
    for key, value in table.items():
        kind = allowed.get(key)
        if kind is None:
            raise fail(f"{prefix}{key}", "unknown key")
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        if not ok:
            raise fail(f"{prefix}{key}", f"must be {_KIND_NAMES[kind]}, got {value!r:.60}")
        if kind is int and value < 0:
            raise fail(f"{prefix}{key}", f"must not be negative, got {value}")


_KIND_NAMES = {
    str: "text",
    list: "a list",
    dict: "a table",
    bool: "true or false",
    int: "a whole number",
    float: "a number above zero",
}
