"""`mamba config`: the effective settings and where they come from."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from mamba_cli import output
from mamba_cli.tables import Column, print_table

app = typer.Typer(
    help="Show the effective settings and the files they come from.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print every setting with its value (secrets masked) and its source."""
    from mamba_cli.settings import load_settings

    settings = load_settings(ctx)
    data = settings.to_dict()
    if as_json:
        output.print_json(
            {
                "settings": data,
                "sources": {
                    f"{s}.{k}": settings.source_of(f"{s}.{k}")
                    for s, values in data.items()
                    if s != "models"
                    for k in values
                },
            }
        )
        return
    rows = [
        (f"{section}.{key}", _shown(value), settings.source_of(f"{section}.{key}"))
        for section, values in data.items()
        if section != "models"
        for key, value in values.items()
    ]
    rows += [
        (f'models."{name}".{key}', _shown(value), settings.source_of(f'models."{name}"'))
        for name, override in data["models"].items()
        for key, value in override.items()
        if value is not None
    ]
    columns = [Column("setting"), Column("value", wrap=True), Column("source", wrap=True)]
    print_table(columns, rows)


def _shown(value: object) -> str:
    """A setting's value as JSON; `(unset)` for none."""
    return "(unset)" if value is None else json.dumps(value)


@app.command("path")
def path(ctx: typer.Context) -> None:
    """List the places settings are read from, highest precedence first."""
    from mamba_agents.config import rules_path, servers_path
    from mamba_agents.paths import config_home, mamba_home

    obj = ctx.find_root().obj or {}
    cwd = Path(os.getcwd())
    toml = Path(obj["config"]) if obj.get("config") else cwd / "config.toml"
    places = [
        ("environment", None),
        ("project .env", cwd / ".env"),
        ("user mamba.env", Path.home() / "mamba.env"),
        ("project .mcp.json", cwd / ".mcp.json"),
        ("--config file" if obj.get("config") else "project config.toml", toml),
        ("added MCP servers", servers_path()),
        ("saved rules", rules_path()),
        ("user config", config_home() / "config.toml"),
    ]
    for label, place in places:
        if place is None:
            print(f"{label:<22} MAMBA_<SECTION>__<KEY> variables")
        else:
            state = "found" if place.is_file() else "absent"
            print(f"{label:<22} {place} ({state})")
    print(f"{'data (MAMBA_HOME)':<22} {mamba_home()}")
