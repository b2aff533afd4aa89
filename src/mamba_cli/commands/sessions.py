"""`mamba sessions`: list, show, delete and export saved sessions."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from mamba_cli import output
from mamba_cli.completion import choices, session_ids
from mamba_cli.store_access import current_store
from mamba_cli.tables import Column, print_table

FORMATS = ("markdown", "json")  # of `sessions export`

app = typer.Typer(
    help="List, show, delete and export saved sessions.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def usage_of(session: Any, state_id: str | None = None) -> Any:
    """The `UsageSummary` of every model request in a session file, across all states; or,
    for a state, of the requests that led to it (its own and its ancestors')."""
    from mamba_agents.store import priced_ids
    from mamba_agents.tokens import UsageTracker

    if state_id is None or state_id == session.head:
        messages = session.messages.values()
    else:
        ids = {i for s in session.lineage(state_id) for i in priced_ids(s.kind, s.added, s.receipt)}
        messages = [session.messages[i] for i in ids if i in session.messages]
    return UsageTracker.from_messages(messages).get_summary()


def summary(session: Any, state_id: str | None = None) -> dict[str, Any]:
    """The fields `sessions list --json` prints for one session (usage and cost: of the
    requests that led to `state_id`, when given)."""
    usage = usage_of(session, state_id)
    return {
        "id": session.id,
        "title": session.title,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "model": session.model,
        "cwd": session.cwd,
        "forked_from": session.forked_from,
        "head": session.head,
        "messages": len(session.messages),
        "states": len(session.states),
        "usage": usage.total.usage.to_dict(),
        "cost_usd": round(usage.cost_usd, 8),
        "cost_source": usage.cost_source,
    }


def _local_time(stamp: str) -> str:
    from datetime import datetime

    try:
        return (
            datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            .astimezone()
            .strftime("%Y-%m-%d %H:%M")
        )
    except ValueError:
        return stamp


@app.command("list")
def list_sessions(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest N only.")] = 50,
) -> None:
    """List saved sessions, newest first."""
    sessions, warnings = current_store(ctx).list_sessions(limit)
    for warning in warnings:
        output.warn(f"skipped {warning}")
    rows = [summary(s) for s in sessions]
    if as_json:
        output.print_json(rows)
        return
    if not rows:
        output.progress("no sessions yet")
        return
    columns = [
        Column("id"),
        Column("updated"),
        Column("model"),
        Column("messages", right=True),
        Column("cost", right=True),
        Column("title", wrap=True),
    ]
    print_table(columns, [_listed(row) for row in rows])


def _listed(row: dict[str, Any]) -> tuple[str, ...]:
    """A session's cells in `sessions list`: an unpriced cost is marked with `*`."""
    cost = output.money(row["cost_usd"], places=4)
    return (
        row["id"][:8],
        _local_time(row["updated_at"]),
        row["model"] or "-",
        str(row["messages"]),
        cost + ("*" if row["cost_source"] == "unpriced" else ""),
        row["title"],
    )


@app.command("search")
def search(
    ctx: typer.Context,
    words: Annotated[list[str], typer.Argument(help='Words to find (all of them); "a phrase".')],
    since: Annotated[
        str | None, typer.Option("--since", help="Only messages since a date or span (7d).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only sessions with this model (glob).")
    ] = None,
    cwd: Annotated[
        str | None, typer.Option("--cwd", help="Only sessions started in DIR or below.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N sessions.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find sessions by what was said in them, best match first."""
    from mamba_agents.search import search_sessions
    from mamba_cli.tables import END_MARK, MARK

    result = search_sessions(
        current_store(ctx),
        " ".join(words),
        since=since,
        model=model,
        cwd=str(Path(cwd).expanduser().resolve()) if cwd else None,
        limit=limit,
        marks=("", "") if as_json else (MARK, END_MARK),
    )
    for warning in result.warnings:
        output.warn(f"skipped {warning}")
    if result.index_error:
        output.warn(f"search index not updated ({result.index_error}): searched the files")
    if as_json:
        output.print_json([hit_record(hit) for hit in result.hits])
        return
    if not result.hits:
        output.progress("no session matches")
        return
    columns = [
        Column("id"),
        Column("updated"),
        Column("title", share=0.25),
        Column("match", wrap=True),
    ]
    print_table(columns, [_found(hit) for hit in result.hits])


def hit_record(hit: Any) -> dict[str, Any]:
    """A search hit as `sessions search --json` prints it."""
    from datetime import UTC, datetime

    return {
        "id": hit.session_id,
        "title": hit.title,
        "cwd": hit.cwd,
        "updated_at": hit.updated_at,
        "message_id": hit.message_id,
        "role": hit.role,
        "message_at": datetime.fromtimestamp(hit.created_at, UTC).isoformat(),
        "snippet": hit.snippet,
        "matching_messages": hit.hits,
        "rank": round(-hit.score, 8) or 0.0,  # not -0.0
    }


def _found(hit: Any) -> tuple[str, ...]:
    """A hit's cells (its snippet's matched words marked for the table)."""
    return (hit.session_id[:8], _local_time(hit.updated_at), hit.title, hit.snippet)


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(help="Session id, unique prefix, or state id.", autocompletion=session_ids),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the session document.")] = False,
) -> None:
    """Show a session's conversation (at its head, or at the state named)."""
    found = current_store(ctx).resolve(ref)
    if as_json:
        data = summary(found.session, found.state_id)
        data["state_id"] = found.state_id or found.session.head
        data["messages"] = [m.to_record() for m in found.session.context(found.state_id)]
        output.print_json(data)
        return
    output.write_data(render_markdown(found.session, found.state_id))


def render_markdown(session: Any, state_id: str | None = None) -> str:
    """A session's conversation as Markdown."""
    lines = [
        f"# {session.title or session.id}",
        "",
        f"- session: `{session.id}`",
        f"- model: {session.model}",
        f"- updated: {session.updated_at}",
    ]
    usage = usage_of(session, state_id)
    upto = f" (up to state `{state_id}`)" if state_id and state_id != session.head else ""
    lines.append(
        f"- tokens{upto}: {usage.total.usage.input_tokens} in, "
        f"{usage.total.usage.output_tokens} out; cost {output.money(usage.cost_usd, places=4)}"
    )
    lines += _compactions(session, state_id) + _workflow_steps(session, state_id)
    system = session.system_prompt(state_id)
    if system:
        lines += ["", "## System", "", system]
    for message in session.context(state_id):
        title = {
            "user": "User",
            "assistant": f"Assistant ({message.name})" if message.name else "Assistant",
            "tool": f"Tool result ({message.name})",
        }
        lines += ["", f"## {title.get(message.role, message.role)}"]
        if message.status:
            lines.append(f"*({message.status})*")
        if message.text:
            lines += ["", message.text]
        for call in message.tool_calls:
            lines += ["", f"Tool call `{call.name}`:", "```json", call.arguments, "```"]
    return "\n".join(lines) + "\n"


_FIGURES = ("removed_count", "tokens_before", "tokens_after")


def _workflow_steps(session: Any, state_id: str | None) -> list[str]:
    """A line for each step of a workflow session, naming the session of the agent's own
    conversation."""
    lines = []
    for state in reversed(session.lineage(state_id)):
        receipt = state.receipt or {}
        if state.kind != "workflow" or "step" not in receipt:
            continue
        cost = receipt.get("cost_usd")
        paid = f", {output.money(cost, places=4)}" if isinstance(cost, float) else ""
        link = receipt.get("session_id")
        where = f"; its conversation: `mamba sessions show {link}`" if isinstance(link, str) else ""
        lines.append(
            f"- step {receipt.get('step')} ({receipt.get('agent')}, {receipt.get('type')}): "
            f"{receipt.get('status')}{paid}{where}"
        )
    return ["", "## Workflow steps", "", *lines] if lines else []


def _count(value: Any) -> int:
    return value if type(value) is int else 0


def _compactions(session: Any, state_id: str | None) -> list[str]:
    """A line for each compaction behind the context shown, oldest first, naming the state
    that still holds the whole context before it."""
    lines = []
    for state in reversed(session.lineage(state_id)):
        if state.kind != "compaction" or not state.receipt:
            continue
        receipt = state.receipt
        figures = SimpleNamespace(
            **{key: _count(receipt.get(key)) for key in _FIGURES}  # a damaged file: 0
        )
        cost = receipt.get("cost_usd")
        paid = f", {output.money(cost, places=4)}" if isinstance(cost, float) and cost else ""
        lines.append(
            f"- compacted ({receipt.get('strategy')}) at {state.created_at}: "
            f"{output.compaction_figures(figures)}{paid}; the whole context before it: "
            f"`mamba sessions show {state.parent_id}`"
        )
    return ["", "## Compactions", "", *lines] if lines else []


@app.command("delete")
def delete(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(help="Session id or unique prefix.", autocompletion=session_ids)
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
) -> None:
    """Delete a saved session file (a damaged one too); on a terminal, asks first."""
    import sys

    from mamba_agents.errors import SessionError

    store = current_store(ctx)
    session_id = store.match_id(ref) or store.resolve(ref).session.id
    if not yes and sys.stdin.isatty():
        question = f"Delete session {session_id}"
        try:
            session = store.load(session_id)
            title = output.terminal_safe(output.shorten(session.title or "", 50))
            question += f' ("{title}", {len(session.states)} states)' if title else ""
        except SessionError:  # a damaged file is deleted all the same
            question += " (damaged)"
        if not output.confirm(question + "?"):
            output.progress(f"kept session {session_id}")
            raise typer.Exit(1)
    store.delete(session_id)
    output.progress(f"deleted session {session_id}")


@app.command("export")
def export(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(help="Session id, unique prefix, or state id.", autocompletion=session_ids),
    ],
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="markdown or json.", autocompletion=choices(*FORMATS)),
    ] = "markdown",
    out: Annotated[Path | None, typer.Option("--output", "-o", help="Write to FILE.")] = None,
) -> None:
    """Export a session as Markdown or as its JSON document."""
    from mamba_agents.errors import ConfigError

    if fmt not in FORMATS:
        raise ConfigError(f"--format: must be markdown or json, not {fmt!r}")
    found = current_store(ctx).resolve(ref)
    text = (
        found.session.to_json() if fmt == "json" else render_markdown(found.session, found.state_id)
    )
    if out is None:
        output.write_data(text)
    else:
        out.write_text(text, encoding="utf-8")
        output.progress(f"wrote {out}")
