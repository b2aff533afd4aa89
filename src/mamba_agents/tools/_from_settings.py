"""The runtime's tools and permission policy, built from settings and command-line flags."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mamba_agents.errors import ConfigError
from mamba_agents.tools._builtin import builtin_tools
from mamba_agents.tools._function_tool import Tool
from mamba_agents.tools._security import FilesystemSecurity
from mamba_agents.tools.permissions import PermissionPolicy, RuleError, parse_rules

if TYPE_CHECKING:
    from mamba_agents.config import AgentSettings


def sandbox_from_settings(
    settings: AgentSettings, sandbox: str | None = None
) -> FilesystemSecurity:
    """The sandbox: `sandbox` (a flag), else `tools.sandbox`, else the current directory."""
    folder = sandbox or settings.tools.sandbox
    where = "--sandbox" if sandbox else f"{settings.source_of('tools.sandbox')}: tools.sandbox"
    if folder is not None and not Path(folder).expanduser().is_dir():
        raise ConfigError(f"{where}: no such directory: {folder}")
    cfg = settings.tools
    kwargs = {"base_directory": Path(folder).expanduser()} if folder else {}
    return FilesystemSecurity(
        allowed_extensions=cfg.allowed_extensions,
        denied_extensions=cfg.denied_extensions,
        max_file_size=cfg.max_file_size,
        **kwargs,
    )


def tools_from_settings(settings: AgentSettings, security: FilesystemSecurity) -> list[Tool]:
    """The built-in tools bound to the sandbox, or none when `tools.enabled` is false."""
    if not settings.tools.enabled:
        return []
    return builtin_tools(
        security, bash_timeout=settings.tools.bash_timeout, output_limit=settings.tools.output_limit
    )


def _checked(rules: Sequence[str], where: str) -> list[str]:
    try:
        return parse_rules(rules, where)
    except RuleError as exc:
        raise ConfigError(str(exc)) from None


def policy_from_settings(
    settings: AgentSettings,
    *,
    allow: Sequence[str] = (),
    deny: Sequence[str] = (),
    allow_all: bool = False,
    base: Path | None = None,
) -> PermissionPolicy:
    """Config rules plus flag rules; a malformed rule is an error naming its source. Path
    rules are read relative to `base` (the sandbox; default: the current directory)."""
    lists: dict[str, list[str]] = {}
    for kind, extra in (("allow", allow), ("deny", deny), ("ask", ())):
        rules = []
        for rule in getattr(settings.permissions, kind):
            where = f"{settings.item_source('permissions', kind, rule)}: permissions.{kind}"
            rules += _checked([rule], where)
        lists[kind] = rules + _checked(extra, f"--{kind}")
    return PermissionPolicy(
        allow=lists["allow"], deny=lists["deny"], ask=lists["ask"], allow_all=allow_all, base=base
    )
