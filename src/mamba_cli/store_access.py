"""The session store a command works on: the one the settings name."""

from __future__ import annotations

from typing import Any

import typer


def current_store(ctx: typer.Context) -> Any:
    """The store of `[store] url` (or `MAMBA_STORE__URL`), else the session files; read
    with the command's global options (`--config`)."""
    from mamba_agents.store import open_store
    from mamba_cli.settings import load_settings

    return open_store(load_settings(ctx))
