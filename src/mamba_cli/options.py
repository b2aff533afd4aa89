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


def agent_overrides(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Settings overrides (the highest layer) from the parsed flags."""
    return {
        "model_backend": {
            key: params.get(key) for key in ("model", "base_url", "temperature", "max_tokens")
        },
        "agent": {
            "system_prompt": params.get("system"),
            "max_turns": params.get("max_turns"),
            "max_cost": params.get("max_cost"),
            "timeout": params.get("timeout"),
        },
    }


def agent_from_flags(ctx: typer.Context, ask_trust: Any = None) -> Any:
    """The Agent a command's flags describe: settings, the session to continue (or a fork
    of it), whether to save, the tools and their permission policy. `ask_trust` is asked
    whether to trust the folder when its files want more than an untrusted folder gets."""
    from mamba_agents.engine import Agent
    from mamba_agents.store import SessionStore
    from mamba_agents.tools import scrub_own_environment
    from mamba_cli.commands._sessions_ref import pick_session
    from mamba_cli.settings import load_settings

    params = ctx.params
    settings = load_settings(ctx, agent_overrides(params), ask_trust)
    # Keys stay in this process's memory, not in the environment block tools could read.
    scrub_own_environment()
    store = SessionStore()
    session = pick_session(store, continue_latest=params["continue_"], ref=params["session"])
    save = not params["no_save"] and settings.session.save
    access = ToolAccess(
        params["allow"] or [],
        params["deny"] or [],
        params["allow_all"],
        params["no_tools"],
        params["sandbox"],
    )
    tools, policy = access.build(settings)
    return Agent(
        settings=settings,
        session=session,
        store=store if save else None,
        system_prompt=params["system"] or "",
        tools=tools,
        permissions=policy,
    )
