"""The rules file: permission rules saved by "always" answers in the chat."""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from pathlib import Path

from mamba_agents.errors import ConfigError
from mamba_agents.paths import config_home

RULES_FILE = "permissions.toml"
_KINDS = ("allow", "ask", "deny")


def rules_path() -> Path:
    """`$XDG_CONFIG_HOME/mamba/permissions.toml`."""
    return config_home() / RULES_FILE


def save_rule(kind: str, rule: str) -> Path:
    """Add a rule to the rules file (kept if already there) and return the file's path."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}")
    path = rules_path()
    rules: dict[str, list[str]] = {k: [] for k in _KINDS}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
        for key in _KINDS:
            rules[key] = list(data.get("permissions", {}).get(key, []))
    if rule not in rules[kind]:
        rules[kind].append(rule)
    lines = ['# Permission rules saved by mamba ("always" answers). Edit freely.', "[permissions]"]
    # JSON strings are valid TOML basic strings.
    lines += [f"{key} = [{', '.join(json.dumps(r) for r in rules[key])}]" for key in _KINDS]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".permissions.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path
