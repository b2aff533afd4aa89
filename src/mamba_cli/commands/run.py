"""`mamba run`: one prompt, an answer on stdout, a result object for scripts."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from mamba_cli import options as opt
from mamba_cli import output
from mamba_cli.mcp_access import server_failures


def register(app: typer.Typer) -> None:
    app.command(name="run")(run)


@opt.agent_command(own_options_after="no_save")
def run(
    ctx: typer.Context,
    prompt: Annotated[
        str | None,
        typer.Argument(
            help="The instruction. Piped stdin is added as context; '-' reads the prompt "
            "from stdin only."
        ),
    ] = None,
    *,
    flags: opt.AgentFlags,
    output_format: opt.OutputFormat = "text",
) -> int:
    """Run one prompt and print the answer."""
    opt.check_output_format(output_format)
    text = read_prompt(prompt)
    return execute(opt.agent_from_flags(ctx, flags), text, output_format)


def read_prompt(prompt: str | None) -> str:
    """The prompt, with piped stdin added as context (or as the prompt for '-')."""
    from mamba_agents.errors import ConfigError

    piped = ""
    if sys.stdin is not None and not sys.stdin.isatty():
        piped = output.valid_text(sys.stdin.buffer.read())
    prompt = output.valid_text(prompt) if prompt else prompt
    if prompt == "-":
        if not piped.strip():
            raise ConfigError("PROMPT '-' reads the prompt from stdin, but stdin is empty")
        return piped
    if prompt and piped.strip():
        return f"{prompt}\n\n{piped}"
    if prompt:
        return prompt
    if piped.strip():
        return piped
    raise ConfigError("no prompt: give PROMPT as an argument or pipe text on stdin")


def execute(agent: Any, prompt: str, output_format: str) -> int:
    """Run the agent with a renderer for the output format; return the exit code."""
    import asyncio
    import signal

    renderer = Renderer(output_format, agent, saved=agent.store is not None)

    async def drive() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, agent.interrupt)
        try:
            async for event in agent.run_stream(prompt):
                renderer.handle(event)
        finally:
            await agent.aclose()
        return renderer.exit_code

    return asyncio.run(drive())


def progress_line(event: Any, indent: str = "") -> str | None:
    """The stderr line for a tool call, its result, a retry or a compaction; None for
    other events."""
    from mamba_agents.events import CompactionEvent, RetryEvent, ToolCallStarted, ToolResult

    if isinstance(event, ToolCallStarted):
        return f"{indent}⏺ {event.name} {output.shorten(event.arguments, 60)}"
    if isinstance(event, ToolResult):
        mark = "✗" if event.is_error else "⎿"
        return f"{indent}  {mark} {output.shorten(event.content, 100)}"
    if isinstance(event, RetryEvent):
        reason = output.shorten(event.reason, 100)
        return f"{indent}retrying in {event.wait_seconds:.1f} s ({reason})"
    if isinstance(event, CompactionEvent):
        return output.compaction_line(event)
    return None


class Renderer:
    """Turns the event stream into stdout data and stderr progress for one output format:
    stream-json prints every event's own line, json the result's, text the answer."""

    def __init__(self, output_format: str, agent: Any, *, saved: bool):
        self.format = output_format
        self.agent = agent
        self.saved = saved
        self.tty = sys.stdout.isatty()
        self.shown = output.TerminalText()  # the answer as streamed to a terminal
        self.streamed = False
        self.exit_code = 0

    def handle(self, event: Any) -> None:
        from mamba_agents.events import InitEvent, RunResult, TextDelta

        if self.format == "stream-json":
            output.print_json_line(event.to_dict())
        if isinstance(event, RunResult):
            self.finish(event)
        elif isinstance(event, InitEvent):
            for line in server_failures(event.mcp_servers):
                output.warn(line)
        elif isinstance(event, TextDelta) and self.format == "text" and self.tty:
            sys.stdout.write(self.shown.feed(event.text))
            sys.stdout.flush()
            self.streamed = True
        else:
            line = progress_line(event)
            if line is not None:
                output.progress(line)

    def finish(self, result: Any) -> None:
        from mamba_agents.errors import ExitCode

        self.exit_code = ExitCode.for_status(result.status)
        if self.format == "text":
            if self.tty:
                if self.streamed:
                    sys.stdout.write(self.shown.flush() + "\n")
            elif result.output:
                sys.stdout.write(result.output.rstrip("\n") + "\n")
            sys.stdout.flush()
        elif self.format == "json":
            output.print_json(result.to_dict())
        if result.status == "error":
            output.error_line(result.error or "run failed")
        elif result.status != "success":
            output.error_line(f"stopped: {result.error or result.status}")
        warning = output.stop_warning(result)
        if warning:
            output.warn(warning)
        if self.saved and result.status != "error":
            output.progress(f"session {self.agent.session.id}")
