"""The Typer application: global options and command registration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mamba_cli import output

app = typer.Typer(
    name="mamba",
    help="A terminal agent: one-shot runs, sessions you can continue or fork, cost you can see.",
    no_args_is_help=True,
    add_completion=True,
    # Plain help and tracebacks: Typer's rich formatting costs ~100 ms of start-up.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from mamba_agents import __version__

        print(f"mamba {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="Read settings from this TOML file.")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show debug logs and tracebacks.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Hide progress on stderr.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No ANSI colours.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Global options apply to every command."""
    output.configure(no_color=no_color, quiet=quiet, verbose=verbose)
    ctx.obj = {"config": config, "verbose": verbose}


from mamba_cli.commands import chat as _chat  # noqa: E402
from mamba_cli.commands import config as _config  # noqa: E402
from mamba_cli.commands import mcp as _mcp  # noqa: E402
from mamba_cli.commands import models as _models  # noqa: E402
from mamba_cli.commands import run as _run  # noqa: E402
from mamba_cli.commands import sessions as _sessions  # noqa: E402
from mamba_cli.commands import store as _store  # noqa: E402
from mamba_cli.commands import tools as _tools  # noqa: E402
from mamba_cli.commands import trust as _trust  # noqa: E402
from mamba_cli.commands import usage as _usage  # noqa: E402
from mamba_cli.commands import workflow as _workflow  # noqa: E402

app.add_typer(_sessions.app, name="sessions")
app.add_typer(_config.app, name="config")
app.add_typer(_tools.tools_app, name="tools")
app.add_typer(_tools.permissions_app, name="permissions")
app.add_typer(_models.app, name="models")
app.add_typer(_mcp.app, name="mcp")
app.add_typer(_store.app, name="store")
_run.register(app)
_chat.register(app)
_trust.register(app)
_workflow.register(app)

_usage.register(app)
