"""`mamba chat`: the interactive REPL."""

from __future__ import annotations

import sys

import typer

from mamba_cli import options as opt
from mamba_cli import output


def register(app: typer.Typer) -> None:
    app.command(name="chat")(chat)


def chat(
    ctx: typer.Context,
    model: opt.Model = None,
    base_url: opt.BaseUrl = None,
    system: opt.System = None,
    session: opt.SessionRef = None,
    continue_: opt.Continue = False,
    no_save: opt.NoSave = False,
    max_turns: opt.MaxTurns = None,
    max_cost: opt.MaxCost = None,
    timeout: opt.Timeout = None,
    temperature: opt.Temperature = None,
    max_tokens: opt.MaxTokens = None,
    allow: opt.Allow = None,
    deny: opt.Deny = None,
    allow_all: opt.AllowAll = False,
    no_tools: opt.NoTools = False,
    sandbox: opt.Sandbox = None,
) -> int:
    """Chat interactively (one prompt per line when stdin is not a terminal)."""
    import asyncio

    from mamba_agents.engine import Agent
    from mamba_agents.paths import mamba_home
    from mamba_agents.store import SessionStore
    from mamba_cli.chat.input import PipedInput, TerminalInput, make_completer
    from mamba_cli.chat.repl import ChatApp
    from mamba_cli.chat.status import toolbar
    from mamba_cli.commands._sessions_ref import pick_session
    from mamba_cli.settings import load_settings

    settings = load_settings(
        ctx,
        opt.agent_overrides(
            model=model,
            base_url=base_url,
            temperature=temperature,
            max_tokens=max_tokens,
            system=system,
            max_turns=max_turns,
            max_cost=max_cost,
            timeout=timeout,
        ),
    )
    store = SessionStore()
    resumed = pick_session(store, continue_latest=continue_, ref=session)
    save = not no_save and settings.session.save
    tools, policy = opt.tool_access(allow, deny, allow_all, no_tools, sandbox).build(settings)
    agent = Agent(
        settings=settings,
        session=resumed,
        store=store if save else None,
        system_prompt=system or "",
        tools=tools,
        permissions=policy,
    )
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    app = ChatApp(agent, PipedInput(), color=output.color_on(sys.stdout))
    if interactive:
        app.reader = TerminalInput(
            mamba_home() / "history", make_completer(app.commands.names), lambda: toolbar(agent)
        )
        agent.set_approver(app.approve)
        app.say(f"mamba chat · {agent.model} · /help for commands, Ctrl-D to leave", "\033[2m")

    async def main() -> None:
        try:
            if resumed is not None:
                app.show_recent()
            await app.run()
        finally:
            await agent.aclose()

    asyncio.run(main())
    return 0
