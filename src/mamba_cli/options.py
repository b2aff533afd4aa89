"""Options shared by the commands that run the agent (`run`, `chat`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mamba_cli.tool_access import ToolAccess

Model = Annotated[str | None, typer.Option("--model", "-m", help="provider/model")]
BaseUrl = Annotated[str | None, typer.Option("--base-url", help="An OpenAI-compatible endpoint.")]
System = Annotated[str | None, typer.Option("--system", "-s", help="System prompt.")]
SessionRef = Annotated[
    str | None,
    typer.Option(
        "--session",
        "-S",
        help="Continue a session (id, unique prefix or state id; an older state forks).",
    ),
]
Continue = Annotated[bool, typer.Option("--continue", "-c", help="Continue the latest session.")]
NoSave = Annotated[bool, typer.Option("--no-save", help="Do not save a session.")]
MaxTurns = Annotated[
    int | None, typer.Option("--max-turns", min=1, help="Most model requests per prompt.")
]
MaxCost = Annotated[
    float | None, typer.Option("--max-cost", min=0.0, help="Stop once a prompt cost this much USD.")
]
Timeout = Annotated[float | None, typer.Option("--timeout", min=0.0, help="Stop after SECONDS.")]
Temperature = Annotated[float | None, typer.Option("--temperature")]
MaxTokens = Annotated[
    int | None, typer.Option("--max-tokens", min=1, help="Most output tokens per request.")
]
Allow = Annotated[
    list[str] | None,
    typer.Option(
        "--allow", help="Allow a tool or TOOL(PATTERN), e.g. 'run_bash(git *)'. Repeatable."
    ),
]
Deny = Annotated[
    list[str] | None, typer.Option("--deny", help="Refuse a tool or TOOL(PATTERN). Repeatable.")
]
AllowAll = Annotated[
    bool, typer.Option("--allow-all", help="Allow every tool call no deny rule refuses.")
]
NoTools = Annotated[bool, typer.Option("--no-tools", help="Offer the model no tools.")]
Sandbox = Annotated[
    str | None, typer.Option("--sandbox", help="Folder the tools may touch (default: here).")
]


def agent_overrides(
    *,
    model: str | None,
    base_url: str | None,
    temperature: float | None,
    max_tokens: int | None,
    system: str | None,
    max_turns: int | None,
    max_cost: float | None,
    timeout: float | None,
) -> dict[str, dict[str, Any]]:
    """Settings overrides (the highest layer) from the flags."""
    return {
        "model_backend": {
            "model": model,
            "base_url": base_url,
            "temperature": temperature,
            "max_tokens": max_tokens,
        },
        "agent": {
            "system_prompt": system,
            "max_turns": max_turns,
            "max_cost": max_cost,
            "timeout": timeout,
        },
    }


def tool_access(
    allow: list[str] | None,
    deny: list[str] | None,
    allow_all: bool,
    no_tools: bool,
    sandbox: str | None,
) -> ToolAccess:
    return ToolAccess(allow or [], deny or [], allow_all, no_tools, sandbox)
