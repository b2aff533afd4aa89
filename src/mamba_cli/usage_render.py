"""Rendering a usage report: table, JSON, CSV, ccusage JSON, and a bar chart."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import datetime
from typing import Any

from mamba_agents.usage import UsageReport, UsageRow, UsageTotals
from mamba_cli.output import money, terminal_safe

KEY_TITLES = {
    "day": "Date",
    "week": "Week of",
    "month": "Month",
    "session": "Session",
    "model": "Model",
    "user": "User",
}


def _tokens(value: int) -> str:
    return f"{value:,}"


MODELS_WIDTH = 40


def _cost(totals: UsageTotals) -> str:
    return money(totals.cost_usd) + (" *" if totals.unpriced_tokens else "")


def _source(totals: UsageTotals) -> str:
    """Where a row's cost comes from, with amounts when it mixes sources."""
    reported, estimated = totals.cost_reported_usd, totals.cost_estimated_usd
    if reported and estimated:
        text = f"reported {money(reported)} + estimated {money(estimated)}"
    elif reported:
        text = "reported"
    elif estimated or not totals.unpriced_tokens:
        text = "estimated"
    else:
        text = ""
    if totals.unpriced_tokens:
        unpriced = f"{totals.unpriced_tokens:,} tokens unpriced"
        text = f"{text} + {unpriced}" if text else unpriced
    return text


def _models(totals: UsageTotals) -> str:
    names = sorted(terminal_safe(name) for name in totals.models)
    shown: list[str] = []
    for index, name in enumerate(names):
        rest = len(names) - index - 1
        candidate = ", ".join([*shown, name]) + (f" +{rest} more" if rest else "")
        if shown and len(candidate) > MODELS_WIDTH:
            return ", ".join(shown) + f" +{len(names) - len(shown)} more"
        shown.append(name)
    return ", ".join(shown)


def _key_label(report: UsageReport, row: UsageRow) -> str:
    if report.by == "session":
        title = (row.title or "").strip()
        return terminal_safe(f"{row.key[:8]} {title[:30]}").rstrip()
    return terminal_safe(row.key)


def table(
    report: UsageReport, *, width: int | None = None, color: bool = False, breakdown: bool = False
) -> str:
    """An aligned text table with a Total row, with the most columns that fit the terminal:
    all of them, all but the cost source, or the period, requests, total and cost."""
    width = width or shutil.get_terminal_size((120, 24)).columns
    rows = _cells(report, breakdown)
    header = rows[0]
    for dropped in ({"Cost source"}, set(header[1:]) - _SHORT):
        if max(len(line) for line in _aligned(rows)) <= width:
            break
        kept = [i for i, name in enumerate(header) if name not in dropped]
        rows = [[row[i] for i in kept] for row in rows]
        header = rows[0]
    lines = _aligned(rows)
    bold = (lambda s: f"\033[1m{s}\033[0m") if color else (lambda s: s)
    return "\n".join([bold(lines[0]), *lines[1:-1], bold(lines[-1])]) + "\n"


_SHORT = {"Requests", "Total", "Cost (USD)"}  # the columns every table keeps
_LEFT = {*KEY_TITLES.values(), "Models", "Cost source"}  # the columns aligned left


def _cells(report: UsageReport, breakdown: bool) -> list[list[str]]:
    """Every column's cells: the header, a row per period (and per model beneath it, with
    `breakdown`), then the Total row."""
    models = report.by != "model"
    header = [KEY_TITLES[report.by], *(["Models"] if models else [])]
    header += ["Requests", "Input", "Output", "Cache Read", "Cache Write", "Total"]
    header += ["Cost (USD)", "Cost source"]

    def cells(label: str, totals: UsageTotals, with_models: bool = True) -> list[str]:
        out = [label, *([_models(totals) if with_models else ""] if models else [])]
        numbers = (totals.requests, totals.input_tokens, totals.output_tokens)
        numbers += (totals.cache_read_tokens, totals.cache_write_tokens, totals.total_tokens)
        return [*out, *map(_tokens, numbers), _cost(totals), _source(totals)]

    rows = [header]
    for row in report.rows:
        rows.append(cells(_key_label(report, row), row.totals))
        if breakdown and models:
            for name, part in sorted(row.breakdown.items(), key=lambda i: -i[1].cost_usd):
                rows.append(cells(f"  └ {terminal_safe(name)}", part, with_models=False))
    return [*rows, cells("Total", report.totals)]


def _aligned(rows: list[list[str]]) -> list[str]:
    """The rows as lines of aligned columns (the first row a header), a rule under the
    header and above the last row."""
    header = rows[0]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(values: list[str]) -> str:
        return "  ".join(
            value.ljust(width) if name in _LEFT else value.rjust(width)
            for value, width, name in zip(values, widths, header, strict=True)
        ).rstrip()

    rule = "  ".join("─" * width for width in widths)
    return [line(header), rule, *(line(row) for row in rows[1:-1]), rule, line(rows[-1])]


def notes(report: UsageReport) -> list[str]:
    """Footnotes for stderr: unpriced tokens and where prices came from."""
    out = []
    if report.totals.unpriced_tokens:
        out.append(
            f"* {report.totals.unpriced_tokens:,} tokens have no known price: counted, "
            'not priced (set [models."NAME"] prices in config)'
        )
    if report.totals.cost_reported_usd:
        out.append(
            f"{money(report.totals.cost_reported_usd, places=4)} reported by providers, "
            f"{money(report.totals.cost_estimated_usd, places=4)} estimated from prices"
        )
    return out


def to_json(report: UsageReport, *, breakdown: bool) -> dict[str, Any]:
    """The documented JSON shape."""
    return {
        "report": report.name,
        "group_by": report.by,
        "timezone": report.timezone,
        "since": iso_or_none(report.since),
        "until": iso_or_none(report.until),
        "rows": [row.to_dict(breakdown=breakdown) for row in report.rows],
        "totals": report.totals.to_dict(),
        "warnings": report.warnings,
    }


CSV_FIELDS = [
    "key",
    "model",
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "total_tokens",
    "cost_usd",
    "cost_reported_usd",
    "cost_estimated_usd",
    "unpriced_tokens",
]


def to_csv(report: UsageReport, *, breakdown: bool) -> str:
    """One line per row (with `breakdown`: one per row and model instead, so a column
    sums to the total), then a total line."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()

    def emit(key: str, model: str, totals: UsageTotals) -> None:
        writer.writerow({"key": key, "model": model, **totals.to_dict()})

    for row in report.rows:
        if breakdown:
            for name, part in sorted(row.breakdown.items()):
                emit(row.key, name, part)
        else:
            emit(row.key, ";".join(sorted(row.totals.models)), row.totals)
    emit("total", ";".join(sorted(report.totals.models)), report.totals)
    return buffer.getvalue()


def _ccusage_counts(totals: UsageTotals) -> dict[str, Any]:
    return {
        "inputTokens": totals.input_tokens,
        "outputTokens": totals.output_tokens,
        "cacheCreationTokens": totals.cache_write_tokens,
        "cacheReadTokens": totals.cache_read_tokens,
    }


def to_ccusage(report: UsageReport) -> dict[str, Any]:
    """The daily report in ccusage's `daily --json` shape."""
    daily = []
    for row in report.rows:
        daily.append(
            {
                "date": row.key,
                **_ccusage_counts(row.totals),
                "totalTokens": row.totals.total_tokens,
                "totalCost": round(row.totals.cost_usd, 8),
                "modelsUsed": sorted(row.totals.models),
                "modelBreakdowns": [
                    {"modelName": name, **_ccusage_counts(part), "cost": round(part.cost_usd, 8)}
                    for name, part in sorted(row.breakdown.items(), key=lambda i: -i[1].cost_usd)
                ],
            }
        )
    totals = {
        **_ccusage_counts(report.totals),
        "totalTokens": report.totals.total_tokens,
        "totalCost": round(report.totals.cost_usd, 8),
    }
    return {"daily": daily, "totals": totals}


_BLOCKS = " ▏▎▍▌▋▊▉█"
CHART_MIN_WIDTH = 50


def _compact_values(report: UsageReport, metric: str) -> str:
    """Too narrow for bars: one `key  value` line per row."""
    lines = [
        f"{_key_label(report, r)}  "
        f"{money(r.totals.cost_usd) if metric == 'cost' else f'{r.totals.total_tokens:,}'}"
        for r in report.rows
    ]
    lines.append(f"total  {shown_total(report, metric)}")
    return "\n".join(lines) + "\n"


def chart(
    report: UsageReport, metric: str, *, width: int | None = None, unicode: bool = True
) -> str:
    """Horizontal bars of cost or tokens per row; plain `#` bars when not on a terminal."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    if width < CHART_MIN_WIDTH:
        return _compact_values(report, metric)
    values = [
        (_key_label(report, r), r.totals.cost_usd if metric == "cost" else r.totals.total_tokens)
        for r in report.rows
    ]
    if not values:
        return "(no usage in this period)\n"
    shown = [money(v) if metric == "cost" else f"{v:,}" for _, v in values]
    label_width = max(len(label) for label, _ in values)
    value_width = max(len(s) for s in shown)
    room = max(width - label_width - value_width - 4, 10)
    top = max(v for _, v in values) or 1
    lines = []
    for (label, value), text in zip(values, shown, strict=True):
        length = value / top * room
        if unicode:
            full = int(length)
            bar = "█" * full + (_BLOCKS[int((length - full) * 8)] if full < room else "")
        else:
            bar = "#" * round(length)
        lines.append(
            f"{label.ljust(label_width)}  {bar.ljust(room)}  {text.rjust(value_width)}".rstrip()
        )
    unit = "cost (USD)" if metric == "cost" else "tokens"
    lines.append(f"{report.name} {unit}; total {shown_total(report, metric)}")
    return "\n".join(lines) + "\n"


def shown_total(report: UsageReport, metric: str) -> str:
    if metric == "cost":
        return money(report.totals.cost_usd)

    return f"{report.totals.total_tokens:,} tokens"


def iso_or_none(epoch: float | None) -> str | None:
    return (
        None
        if epoch is None
        else datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")
    )
