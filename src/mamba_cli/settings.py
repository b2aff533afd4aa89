"""Loading settings for a command from the global options and its flags."""

from __future__ import annotations

from typing import Any

import typer


def load_settings(ctx: typer.Context, overrides: dict[str, dict[str, Any]] | None = None) -> Any:
    """`AgentSettings` with the command's flags as the highest layer; logging set up."""
    from mamba_agents.config import AgentSettings
    from mamba_agents.observability import setup_logging

    cleaned = {
        section: {k: v for k, v in values.items() if v is not None}
        for section, values in (overrides or {}).items()
    }
    obj = ctx.find_root().obj or {}
    settings = AgentSettings(config_file=obj.get("config"), overrides=cleaned)
    setup_logging(settings.logging, verbose=bool(obj.get("verbose")))
    return settings
