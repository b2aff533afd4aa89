"""`mamba chat`: the interactive REPL."""

from __future__ import annotations

import sys
from typing import Any

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
    return output.confirm(f"Trust {os.getcwd()}?")


def ask_server(config: Any) -> bool:
    """Ask once whether a server that came with the working folder may start."""
    print(f"{config.source} wants to start the MCP server '{config.name}':", file=sys.stderr)
    for line in config.details():
        print(output.terminal_safe(f"  {line}"), file=sys.stderr)
    return output.confirm("Allow it (remembered for this folder)?")


@opt.agent_command()
def chat(ctx: typer.Context, *, flags: opt.AgentFlags) -> int:
    """Chat interactively (one prompt per line when stdin is not a terminal)."""
    import asyncio

    from mamba_agents.errors import ExitCode
    from mamba_agents.paths import mamba_home
    from mamba_cli.chat.input import PipedInput, TerminalInput, make_completer
    from mamba_cli.chat.repl import ChatApp
    from mamba_cli.chat.status import toolbar

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    agent = opt.agent_from_flags(
        ctx, flags, ask_trust if interactive else None, ask_server if interactive else None
    )
    resumed = agent.session.states
    app = ChatApp(agent, PipedInput(), color=output.color_on(sys.stdout))
    if interactive:
        app.reader = TerminalInput(
            mamba_home() / "history", make_completer(app.commands.names), lambda: toolbar(agent)
        )
        agent.set_approver(app.approve)
        app.say(f"mamba chat · {agent.model} · /help for commands, Ctrl-D to leave", "\033[2m")

    async def main() -> int:
        import signal

        # SIGTERM, or the terminal closing (SIGHUP), ends the chat: the turn stops, the
        # session is kept, the servers stop.
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGHUP):
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
        try:
            await app.start_servers()
            if resumed:
                app.show_recent()
            await app.run()
        except asyncio.CancelledError:
            return ExitCode.INTERRUPTED
        finally:
            await agent.aclose()
        return ExitCode.OK

    return asyncio.run(main())
