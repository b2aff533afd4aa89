"""Loading settings for a command from the global options and its flags."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import typer

from mamba_cli import output

# Asked when the working folder's files want settings only a trusted folder may have:
# ({file: [section.key, ...]}) -> trust the folder?
AskTrust = Callable[[dict[str, list[str]]], bool]


def load_settings(
    ctx: typer.Context,
    overrides: dict[str, dict[str, Any]] | None = None,
    ask_trust: AskTrust | None = None,
) -> Any:
    """`AgentSettings` with the command's flags as the highest layer; logging set up.

    When the working folder is not trusted and its files set what only a trusted folder
    may, `ask_trust` (the chat) decides whether to trust it from now on; without it, a
    warning names each file, what was ignored, and how to trust the folder.
    """
    from mamba_agents.config import AgentSettings, trust_folder
    from mamba_agents.observability import setup_logging

    cleaned = {
        section: {k: v for k, v in values.items() if v is not None}
        for section, values in (overrides or {}).items()
    }
    obj = ctx.find_root().obj or {}
    settings = AgentSettings(config_file=obj.get("config"), overrides=cleaned)
    if settings.untrusted and ask_trust is not None and ask_trust(settings.untrusted):
        path = trust_folder(os.getcwd())
        output.progress(f"trusted {os.getcwd()} (saved in {path})")
        settings = AgentSettings(config_file=obj.get("config"), overrides=cleaned)
    for source, keys in settings.untrusted.items():
        output.warn(
            f"{source}: ignored {', '.join(keys)}: this folder is not trusted "
            "(trust it with 'mamba trust')"
        )
    setup_logging(settings.logging, verbose=bool(obj.get("verbose")))
    return settings
