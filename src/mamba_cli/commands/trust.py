"""`mamba trust`: which folders' own config.toml and .env mamba obeys in full."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mamba_cli import output


def register(app: typer.Typer) -> None:
    app.command(name="trust")(trust)


def trust(
    folder: Annotated[
        Path | None, typer.Argument(help="The folder to trust (default: the current one).")
    ] = None,
    remove: Annotated[
        bool, typer.Option("--remove", help="Stop trusting the folder instead.")
    ] = False,
    show: Annotated[bool, typer.Option("--list", help="List the trusted folders.")] = False,
) -> None:
    """Trust a folder: its config.toml and .env may then change where requests go, add
    allow rules, move the sandbox and set every other setting. Untrusted, they may only
    restrict."""
    from mamba_agents.config import trust_folder, trusted_folders, untrust_folder
    from mamba_agents.errors import ConfigError

    if show:
        if folder is not None or remove:
            raise ConfigError("--list takes no folder and no --remove")
        for path in trusted_folders():
            print(path)
        return
    target = Path(folder or os.getcwd()).resolve()
    if remove:
        if not untrust_folder(target):
            raise ConfigError(f"{target}: not a trusted folder (see 'mamba trust --list')")
        output.progress(f"no longer trusted: {target}")
        return
    path = trust_folder(target)
    output.progress(f"trusted {target} and the folders below it (saved in {path})")
