"""`mamba store ...`: where sessions are kept, and moving them between stores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mamba_cli import output
from mamba_cli.store_access import current_store

app = typer.Typer(
    help="The session store: files, or a PostgreSQL database a team shares.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

FILES = "files"  # the session files in $MAMBA_HOME/sessions, as a copy's source or target


def _named_store(ctx: typer.Context, name: str | None) -> Any:
    """The store `name` gives: a postgresql:// URL, `files`, or a folder of session files;
    None: the store the settings name."""
    from mamba_agents.store import PostgresStore, SessionStore, is_postgres_url

    if name is None:
        return current_store(ctx)
    if is_postgres_url(name):
        return PostgresStore(name)
    if name == FILES:
        return SessionStore()
    if "://" in name:
        from mamba_agents.errors import ConfigError

        raise ConfigError(f"store {name!r}: expected a postgresql:// URL, 'files' or a folder")
    return SessionStore(Path(name).expanduser())


def _describe(store: Any) -> dict[str, Any]:
    from mamba_agents.store import PostgresStore

    data: dict[str, Any] = {"store": store.where}
    if isinstance(store, PostgresStore):
        data.update(kind="postgresql", schema_version=store.schema_version())
    else:
        data["kind"] = "files"
    data["sessions"] = store.count_sessions()
    return data


@app.command("init")
def init(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option("--url", help="This store instead of the configured one.")
    ] = None,
) -> None:
    """Create or upgrade the store's tables (first use does it too)."""
    with _named_store(ctx, url) as store:
        store.init_schema()
        data = _describe(store)
    version = f", schema version {data['schema_version']}" if "schema_version" in data else ""
    output.progress(
        f"{data['store']}: ready{version}, {output.plural(data['sessions'], 'session')}"
    )


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Which store sessions go to, and how many it holds."""
    with current_store(ctx) as store:
        data = _describe(store)
    if as_json:
        output.print_json(data)
        return
    for key, value in data.items():
        output.write_data(f"{key}\t{value}\n")


@app.command("copy")
def copy(
    ctx: typer.Context,
    to: Annotated[
        str, typer.Option("--to", help="Where to: a postgresql:// URL, 'files', or a folder.")
    ],
    source: Annotated[
        str | None,
        typer.Option("--from", help="Where from (default: the configured store)."),
    ] = None,
) -> None:
    """Copy every session to another store. Copying again adds only what is new there."""
    from mamba_agents.errors import ConfigError, SessionError

    with _named_store(ctx, source) as origin, _named_store(ctx, to) as target:
        if origin.where == target.where:
            raise ConfigError(f"--to: {target.where} is the store being copied from")
        present = set(target.ids())
        copied = new = 0
        for session_id in reversed(origin.ids()):  # oldest first: a fork after its origin
            try:
                session = origin.load(session_id)
            except SessionError as exc:
                output.warn(f"skipped {exc}")
                continue
            target.save(session)
            copied += 1
            new += session_id not in present
        output.progress(
            f"copied {output.plural(copied, 'session')} from {origin.where} to {target.where} "
            f"({new} new there)"
        )


@app.command("gc")
def gc(ctx: typer.Context) -> None:
    """Remove what no session reaches (unshared messages of deleted sessions, the temp
    files of saves that were killed)."""
    with current_store(ctx) as store:
        removed = store.gc()
        output.progress(f"{store.where}: removed {removed}")
