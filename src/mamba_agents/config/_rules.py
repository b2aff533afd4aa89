"""The rules file: permission rules saved by "always" answers in the chat."""

from __future__ import annotations

import tomllib
from pathlib import Path

from mamba_agents.config._files import write_toml
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
    header = 'Permission rules saved by mamba ("always" answers). Edit freely.'
    write_toml(path, header, {"permissions": rules})
    return path
