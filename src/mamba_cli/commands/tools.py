"""`mamba tools list` and `mamba permissions check`: what may run, and why."""

from __future__ import annotations

import fnmatch
import re
from typing import Annotated, Any

import typer

from mamba_cli import output
from mamba_cli.tables import Column, print_table
from mamba_cli.tool_access import ToolAccess

tools_app = typer.Typer(
    help="The tools the agent can use.", no_args_is_help=True, rich_markup_mode=None
)
permissions_app = typer.Typer(
    help="Check permission rules.", no_args_is_help=True, rich_markup_mode=None
)

AllowOption = Annotated[list[str] | None, typer.Option("--allow", help="An extra allow rule.")]
DenyOption = Annotated[list[str] | None, typer.Option("--deny", help="An extra deny rule.")]
AllowAllOption = Annotated[bool, typer.Option("--allow-all", help="As `run --allow-all`.")]


def _policy_and_tools(
    ctx: typer.Context, allow: list[str] | None, deny: list[str] | None, allow_all: bool
) -> tuple[Any, list[Any], Any]:
    from mamba_cli.settings import load_settings

    settings = load_settings(ctx)
    tools, policy = ToolAccess(allow or [], deny or [], allow_all).build(settings)
    return settings, tools, policy


@tools_app.command("list")
def list_tools(
    ctx: typer.Context,
    allow: AllowOption = None,
    deny: DenyOption = None,
    allow_all: AllowAllOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every tool with its risk class and whether `mamba run` may call it now."""
    _, tools, policy = _policy_and_tools(ctx, allow, deny, allow_all)
    rows = []
    for tool in tools:
        decision = policy.decide(tool.name, {}, tool.risk)
        narrower = [
            rule
            for rule in (*policy.deny, *policy.ask, *policy.allow)
            if "(" in rule and fnmatch.fnmatchcase(tool.name, rule.split("(", 1)[0].strip())
        ]
        reason = decision.reason
        if narrower:
            reason += f"; rules for some calls: {', '.join(narrower)}"
        rows.append(
            {
                "name": tool.name,
                "risk": tool.risk,
                "decision": decision.action,
                "reason": reason,
                "description": tool.description,
            }
        )
    if as_json:
        output.print_json(rows)
        return
    words = {"allow": "allowed", "deny": "denied", "ask": "asks (refused by run)"}
    columns = [
        Column("tool"),
        Column("risk"),
        Column("mamba run", wrap=True),
        Column("reason", wrap=True),
    ]
    print_table(
        columns, [(row["name"], row["risk"], words[row["decision"]], row["reason"]) for row in rows]
    )


_CALL = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\((.*)\))?\s*$", re.S)


def parse_call(text: str) -> tuple[str, dict[str, str]]:
    """`run_bash(git status)` -> ("run_bash", {"command": "git status"}); two-path tools
    take `move_file(a.txt -> b.txt)`."""
    from mamba_agents.errors import ConfigError
    from mamba_agents.tools.permissions import SUBJECT_ARGUMENTS

    match = _CALL.match(text)
    if not match:
        raise ConfigError(f"CALL {text!r}: expected TOOL or TOOL(ARGUMENT)")
    tool, argument = match.group(1), match.group(2)
    names = [name for name, _ in SUBJECT_ARGUMENTS.get(tool, ())]
    if argument is None or not names:
        return tool, {}
    values = [argument.strip()] if len(names) == 1 else [v.strip() for v in argument.split("->", 1)]
    if len(values) != len(names):
        raise ConfigError(f"CALL {text!r}: {tool} takes {' -> '.join(names)}")
    return tool, dict(zip(names, values, strict=True))


@permissions_app.command("check")
def check(
    ctx: typer.Context,
    call: Annotated[str, typer.Argument(help="A call such as 'run_bash(git status)'.")],
    allow: AllowOption = None,
    deny: DenyOption = None,
    allow_all: AllowAllOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show whether a call would be allowed, refused or asked about, and which rule decides."""
    from mamba_agents.tools import describe_rule

    settings, tools, policy = _policy_and_tools(ctx, allow, deny, allow_all)
    tool_name, arguments = parse_call(call)
    risks = {t.name: t.risk for t in tools}
    risk = risks.get(tool_name, "execute")
    decision = policy.decide(tool_name, arguments, risk)
    configured = getattr(settings.permissions, decision.action)
    rules = [
        {
            "rule": rule,
            "matches": describe_rule(rule),
            "source": settings.item_source("permissions", decision.action, rule)
            if rule in configured
            else "command line",
        }
        for rule in decision.rules
    ]
    data = {
        "call": call,
        "tool": tool_name,
        "arguments": arguments,
        "risk": risk,
        "decision": decision.action,
        "reason": decision.reason,
        "rules": rules,
    }
    if as_json:
        output.print_json(data)
        return
    lines = [f"{decision.action}: {decision.reason}"]
    lines += [f"  {r['rule']} matches {r['matches']} (from {r['source']})" for r in rules]
    print(output.terminal_safe("\n".join(lines)))
    print(f"  {tool_name}: risk class {risk}")
