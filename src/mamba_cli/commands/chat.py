"""`mamba chat`: the interactive REPL."""

from __future__ import annotations

import sys

import typer

from mamba_cli import options as opt
from mamba_cli import output


def register(app: typer.Typer) -> None:
    app.command(name="chat")(chat)


def ask_trust(untrusted: dict[str, list[str]]) -> bool:
    """Ask once whether to trust the working folder, whose files want more than an
    untrusted folder gets."""
    import os

    print("This folder's files set what only a trusted folder may set:", file=sys.stderr)
    for source, keys in untrusted.items():
        print(f"  {source}: {', '.join(keys)}", file=sys.stderr)
    print(
        "Trusting it lets them change where requests go, add allow rules and move the sandbox.",
        file=sys.stderr,
    )
    try:
        answer = input(f"Trust {os.getcwd()}? [y/N] ")
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


@opt.agent_command()
def chat(ctx: typer.Context, *, flags: opt.AgentFlags) -> int:
    """Chat interactively (one prompt per line when stdin is not a terminal)."""
    import asyncio

    from mamba_agents.paths import mamba_home
    from mamba_cli.chat.input import PipedInput, TerminalInput, make_completer
    from mamba_cli.chat.repl import ChatApp
    from mamba_cli.chat.status import toolbar

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    agent = opt.agent_from_flags(ctx, flags, ask_trust if interactive else None)
    resumed = agent.session.states
    app = ChatApp(agent, PipedInput(), color=output.color_on(sys.stdout))
    if interactive:
        app.reader = TerminalInput(
            mamba_home() / "history", make_completer(app.commands.names), lambda: toolbar(agent)
        )
        agent.set_approver(app.approve)
        app.say(f"mamba chat · {agent.model} · /help for commands, Ctrl-D to leave", "\033[2m")

    async def main() -> None:
        try:
            if resumed:
                app.show_recent()
            await app.run()
        finally:
            await agent.aclose()

    asyncio.run(main())
    return 0
