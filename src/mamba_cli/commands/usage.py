"""`mamba usage`: tokens and cost by day, week, month, session, model or user."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mamba_cli import output
from mamba_cli.completion import choices, model_names, report_groupings, session_ids

FORMATS = ("table", "json", "csv", "ccusage")


def register(app: typer.Typer) -> None:
    app.command(name="usage")(usage)


def usage(
    ctx: typer.Context,
    metric: Annotated[
        str | None, typer.Argument(help="With --chart: cost (default) or tokens.")
    ] = None,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="day, week, month, session, model or user.",
            autocompletion=report_groupings,
        ),
    ] = "day",
    since: Annotated[
        str | None, typer.Option("--since", help="A date (2026-11-01) or a span (7d, 4w, 12h).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="A date or a span.")] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="Only this model (globs allowed).", autocompletion=model_names
        ),
    ] = None,
    session: Annotated[
        str | None,
        typer.Option(
            "--session",
            "-S",
            help="Only this session (id or prefix).",
            autocompletion=session_ids,
        ),
    ] = None,
    cwd: Annotated[
        str | None, typer.Option("--cwd", help="Only sessions started in this folder or below.")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="Day boundaries, e.g. Europe/Berlin.")
    ] = None,
    start_of_week: Annotated[
        str, typer.Option("--start-of-week", help="monday or sunday.")
    ] = "monday",
    breakdown: Annotated[
        bool, typer.Option("--breakdown", help="Add a sub-row per model.")
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="table, json, csv or ccusage.", autocompletion=choices(*FORMATS)
        ),
    ] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    chart: Annotated[
        bool, typer.Option("--chart", help="Draw a bar chart of cost (or `--chart tokens`).")
    ] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Rebuild the usage index from the session files.")
    ] = False,
    reprice: Annotated[
        bool,
        typer.Option(
            "--reprice",
            help="Price requests with today's prices and config, not those of when they ran.",
        ),
    ] = False,
) -> None:
    """Token and cost report from saved sessions (default: daily, last 30 days)."""
    from mamba_agents.errors import ConfigError
    from mamba_agents.store import open_store
    from mamba_agents.usage import build_report
    from mamba_cli import usage_render as render
    from mamba_cli.settings import load_settings

    fmt = "json" if as_json else fmt
    if fmt not in FORMATS:
        raise ConfigError(f"--format: must be table, json, csv or ccusage, not {fmt!r}")
    if metric is not None and not chart:
        raise ConfigError(f"unexpected argument {metric!r} (a metric goes with --chart)")
    metric = metric or "cost"
    if metric not in ("cost", "tokens"):
        raise ConfigError(f"--chart: must be cost or tokens, not {metric!r}")
    if fmt == "ccusage" and by != "day":
        raise ConfigError("--format ccusage writes the daily report; leave out --by")
    settings = load_settings(ctx)
    report = build_report(
        open_store(settings),
        settings if reprice else None,
        by=by,
        since=since,
        until=until,
        model=model,
        session=session,
        cwd=cwd,
        timezone=timezone,
        start_of_week=start_of_week,
        rebuild=rebuild,
        reprice=reprice,
    )
    if report.index_error:
        output.warn(
            f"usage index not updated ({report.index_error}): reporting from the session files"
        )
    for warning in report.warnings:
        output.warn(f"skipped {warning}")
    tty = sys.stdout.isatty()
    if chart:
        output.write_data(render.chart(report, metric, unicode=tty))
    elif fmt == "json":
        output.print_json(render.to_json(report, breakdown=breakdown))
    elif fmt == "ccusage":
        output.print_json(render.to_ccusage(report))
    elif fmt == "csv":
        output.write_data(render.to_csv(report, breakdown=breakdown))
    else:
        if not report.rows:
            output.progress("no usage in this period")
        sys.stdout.write(
            render.table(report, color=output.color_on(sys.stdout), breakdown=breakdown)
        )
        for note in render.notes(report):
            output.progress(note)
