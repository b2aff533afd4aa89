"""The chat loop: read a prompt, run a turn, render its events, show the status."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from mamba_cli import output
from mamba_cli.chat import status
from mamba_cli.chat.commands import SlashCommands, render_recent
from mamba_cli.chat.diff_view import is_diff
from mamba_cli.chat.markdown_stream import MarkdownStream
from mamba_cli.chat.styles import BOLD, DIM, RED, RESET, YELLOW
from mamba_cli.mcp_access import server_failures
from mamba_cli.output import shorten, terminal_safe

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
MAIN_ARGUMENT = ("command", "path", "pattern", "source", "query", "url")


@dataclass
class ToolCallRecord:
    """The last tool call, for /tool."""

    call_id: str
    name: str
    arguments: str
    content: str = ""
    is_error: bool = False
    duration_ms: int = 0


def main_argument(arguments: str) -> str:
    """The argument that says what a call does (its command or path), else all of them."""
    import json

    try:
        data = json.loads(arguments or "{}")
    except ValueError:
        return arguments
    if isinstance(data, dict):
        for key in MAIN_ARGUMENT:
            if isinstance(data.get(key), str):
                return data[key]
    return arguments


def shown_whole(text: str, limit: int = 2000) -> str:
    """What a question asks about, all of it: line breaks shown as ⏎ (so nothing can hide
    below blank lines or pass for one line), cut only past `limit` characters."""
    text = text.replace("\r\n", "\n").replace("\n", " ⏎ ")
    if len(text) > limit:
        return f"{text[:limit]}… ({len(text) - limit:,} more characters)"
    return text


def result_summary(content: str) -> str:
    """A short account of a tool result: its first line and how many lines there were."""
    lines = content.strip().splitlines()
    if not lines:
        return "(no output)"
    if is_diff(lines[1:]):  # an edit: its summary line says it all; /tool shows the diff
        return shorten(lines[0], 100)
    more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
    return shorten(lines[0], 70) + more


class Spinner:
    """A one-line spinner with the time elapsed while the model or a tool works; cleared
    before anything else is printed, and never drawn while a question is open."""

    def __init__(self, out: TextIO, enabled: bool):
        self.out = out
        self.enabled = enabled
        self.label = ""
        self.paused = False
        self._since = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self, label: str, since: float | None = None) -> None:
        """Spin with `label`, counting from `since` (a `time.monotonic()`; default now)."""
        self.label = terminal_safe(label)
        self._since = time.monotonic() if since is None else since
        if self.enabled and self._task is None and not self.paused:
            self._task = asyncio.ensure_future(self._spin())

    async def _spin(self) -> None:
        frame = 0
        while True:
            elapsed = int(time.monotonic() - self._since)
            line = f"{SPINNER[frame % len(SPINNER)]} {self.label} · {elapsed}s · Ctrl-C to stop"
            columns = shutil.get_terminal_size((100, 24)).columns
            self.out.write(f"\r\033[K{DIM}{shorten(line, columns - 1)}{RESET}")
            self.out.flush()
            frame += 1
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
            self.out.write("\r\033[K")
            self.out.flush()


class ChatApp:
    """One interactive session with an Agent."""

    def __init__(
        self, agent: Any, reader: Any, *, out: TextIO | None = None, color: bool = True
    ) -> None:
        self.agent = agent
        self.reader = reader
        self.out = out or sys.stdout
        self.color = color and self.out.isatty()
        self.last_tool: ToolCallRecord | None = None
        self.saved_rules: dict[tuple[str, str], Path] = {}  # rules "always" saved, and where
        self.last_answer = ""
        self.spinner = Spinner(self.out, self.color)
        self._running: set[str] = set()
        self._labels: dict[str, str] = {}  # the calls of this round on screen, by id
        self._asking = False  # a permission question is on screen
        self._held: list[Any] = []  # tool lines that arrived while asking
        self.commands = SlashCommands(self)

    # -- output ------------------------------------------------------------------------------
    def paint(self, text: str, style: str) -> str:
        return f"{style}{text}{RESET}" if self.color else text

    def say(self, text: str = "", style: str = "") -> None:
        """A line of the conversation (answers, command output); on a terminal, control
        characters in it are shown, never obeyed."""
        self.spinner.stop()
        if self.out.isatty():
            text = terminal_safe(text)
        self.out.write((self.paint(text, style) if style else text) + "\n")
        self.out.flush()

    def note(self, text: str, style: str = DIM) -> None:
        """Secondary information (tool lines, status): on stderr when stdout is not a
        terminal, so piped output holds only the answers."""
        if self.out.isatty():
            self.say(text, style)
        else:
            output.progress(text)

    def alert(self, text: str, style: str = RED) -> None:
        """An error or warning: in the conversation on a terminal; on stderr when stdout is
        not a terminal (even with --quiet), so piped output holds only the answers."""
        if self.out.isatty():
            self.say(text, style)
        else:
            self.spinner.stop()
            print(output.terminal_safe(text), file=sys.stderr, flush=True)

    def width(self) -> int:
        return shutil.get_terminal_size((100, 24)).columns

    # -- the loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Read prompts until /exit or end of input. On a terminal, Ctrl-C (SIGINT) stops
        the running turn and never ends the chat, however often or quickly it comes."""
        loop = asyncio.get_running_loop()
        if self.reader.interactive:
            loop.add_signal_handler(signal.SIGINT, lambda: self.agent.interrupt())
        try:
            with self.reader.keys_between_prompts():
                await self._read_loop()
        finally:
            if self.reader.interactive:
                loop.remove_signal_handler(signal.SIGINT)
        self.goodbye()

    async def _read_loop(self) -> None:
        while True:
            try:
                text = await self.reader.read()
            except KeyboardInterrupt:
                self.say("(Ctrl-D or /exit to leave)", DIM)
                continue
            if text is None:
                break
            text = text.strip()
            if not text:
                continue
            if text.startswith("/"):
                if await self.commands.dispatch(text) == "exit":
                    break
                continue
            await self.turn(text)

    async def start_servers(self) -> None:
        """Start the MCP servers before the first prompt (so /mcp and their prompts work);
        a server that fails is named with the reason, and the chat goes on without it."""
        if self.agent.mcp is None:
            return
        self.spinner.start("starting MCP servers (Ctrl-C: don't wait)")
        loop = asyncio.get_running_loop()
        starting = asyncio.ensure_future(self.agent.start_mcp())
        if self.reader.interactive:
            loop.add_signal_handler(signal.SIGINT, starting.cancel)
        try:
            await starting
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the chat itself is ending
            self.say("not waiting for the MCP servers; /mcp shows how they are doing", DIM)
        finally:
            self.spinner.stop()
            if self.reader.interactive:
                loop.remove_signal_handler(signal.SIGINT)
        statuses = self.agent.mcp_status()
        for line in server_failures(statuses):
            self.alert(line)
        ready = [s for s in statuses if s["status"] == "connected"]
        if ready:
            tools = sum(s.get("tools", 0) for s in ready)
            self.note(f"MCP: {len(ready)} server(s) connected, {tools} tools (/mcp for details)")

    def show_recent(self) -> None:
        """Where a resumed session stands: on a terminal only (piped output is answers)."""
        if self.out.isatty():
            render_recent(self)

    def goodbye(self) -> None:
        session = self.agent.session
        if self.agent.store is not None and session.states:
            self.note(
                f"session {session.id} saved; resume with: mamba chat --session {session.id[:8]}"
            )

    async def turn(self, prompt: str) -> Any:
        """Run one prompt; Ctrl-C stops it and keeps what was done."""
        from mamba_agents.events import (
            CompactionEvent,
            ErrorEvent,
            RetryEvent,
            RunResult,
            TextDelta,
            ToolCallStarted,
            ToolResult,
        )

        stream = MarkdownStream(self.out, self.width(), color=self.color)
        result = None
        self._wait_for_model(time.monotonic())
        try:
            async for event in self.agent.run_stream(prompt):
                if isinstance(event, TextDelta):
                    self.spinner.stop()
                    stream.feed(event.text)
                elif isinstance(event, ToolCallStarted | ToolResult):
                    stream.finish()
                    self._show_tool_event(event)
                elif isinstance(event, RetryEvent):
                    self.note(
                        f"retrying in {event.wait_seconds:.1f} s: {shorten(event.reason, 100)}"
                    )
                    self._wait_for_model()
                elif isinstance(event, CompactionEvent):
                    self.note(output.compaction_line(event))
                    self._wait_for_model()
                elif isinstance(event, ErrorEvent):
                    stream.finish()
                    self.alert(f"error: {event.message}")
                elif isinstance(event, RunResult):
                    result = event
        finally:
            self.spinner.stop()
        assert result is not None
        if result.status == "interrupted":
            stream.abandon("(interrupted)")
        else:
            stream.finish()
        if result.status in ("max_turns", "max_cost", "timeout"):
            self.alert(f"stopped: {result.error}", YELLOW)
        warning = output.stop_warning(result)
        if warning:
            self.alert(warning, YELLOW)
        if result.status != "error":
            self.last_answer = result.output or self.last_answer
            line = status.status_line(self.agent, result)
            self.note(line, status.fullness_style(self.agent.get_context_state()) or DIM)
        return result

    def _wait_for_model(self, since: float | None = None) -> None:
        """The spinner while the model has not answered yet (`since` the prompt was sent)."""
        self.spinner.start(f"waiting for {self.agent.model}", since)

    def _show_tool_event(self, event: Any) -> None:
        """A tool's start or result line; held while a question is open (drawing then
        would draw over it)."""
        from mamba_agents.events import ToolResult

        if self._asking:
            self._held.append(event)
        elif isinstance(event, ToolResult):
            self._tool_finished(event)
        else:
            self._tool_started(event)

    def _tool_started(self, event: Any) -> None:
        self.last_tool = ToolCallRecord(event.call_id, event.name, event.arguments)
        if not self._running:
            self._labels = {}  # a new round of calls
        self._running.add(event.call_id)
        label = f"{event.name} {shorten(main_argument(event.arguments), 60)}"
        self._labels[event.call_id] = label
        self.note(f"⏺ {label}", BOLD)
        self.spinner.start(label)

    def _tool_finished(self, event: Any) -> None:
        self._running.discard(event.call_id)
        if not self._running:
            self.spinner.stop()
        if self.last_tool is not None and event.call_id == self.last_tool.call_id:
            self.last_tool.content = event.content
            self.last_tool.is_error = event.is_error
            self.last_tool.duration_ms = event.duration_ms
        mark = "✗" if event.is_error else "⎿"
        style = RED if event.is_error else DIM
        # Calls that ran together finish in any order: each result names its call.
        label = self._labels.get(event.call_id) if len(self._labels) > 1 else None
        prefix = f"{label}: " if label else ""
        self.note(f"  {mark} {prefix}{result_summary(event.content)}", style)
        if not self._running:
            self._wait_for_model()

    # -- permissions -------------------------------------------------------------------------
    async def approve(self, call: Any, tool: Any, decision: Any) -> bool:
        """Ask a person: allow once, always (saves a rule), or deny; Ctrl-C stops the turn."""
        from mamba_agents.config import save_rule
        from mamba_agents.tools import describe_rule, suggest_rule

        if not self.reader.interactive:
            return False
        await self._caught_up(call.id)
        self.spinner.stop()
        arguments = call.parsed_arguments()
        rule = suggest_rule(tool.name, arguments)
        self.say(f"{tool.name} wants to run: {shown_whole(main_argument(call.arguments))}", YELLOW)
        self.say(
            f"  [y] allow once   [a] always: {shown_whole(rule)} "
            f"({shown_whole(describe_rule(rule))})   [n] deny"
        )
        answer = await self._ask("allow? [y/a/N] ", "nya")
        if answer is None:  # Ctrl-C: stop the whole turn, not only this call
            self.say("  interrupted", DIM)
            self.agent.interrupt()
            await asyncio.sleep(0)  # the turn's task is cancelled here
        if answer == "a":
            self.agent.add_permission_rule("allow", rule)
            with contextlib.suppress(OSError):
                path = save_rule("allow", rule)
                self.saved_rules["allow", rule] = path
                self.say(f"  saved rule {rule} to {path}", DIM)
        allowed = answer in ("y", "a")
        if not allowed:
            self.say("  denied", DIM)
        else:
            self.spinner.start(f"{tool.name} {shorten(main_argument(call.arguments), 60)}")
        return allowed

    async def _caught_up(self, call_id: str) -> None:
        """Wait until the events before this call (the answer's text, its tool line) are
        drawn, so the question comes after them, whole."""
        for _ in range(200):  # at most 2 s: the events are already queued
            if call_id in self._labels:
                return
            await asyncio.sleep(0.01)

    async def _ask(self, question: str, choices: str) -> str | None:
        """Ask a question; nothing else draws while it is open (tool lines arriving
        meanwhile are shown after it)."""
        self._asking = self.spinner.paused = True
        self.spinner.stop()
        try:
            return await self.reader.ask(question, choices)
        finally:
            self._asking = self.spinner.paused = False
            held, self._held = self._held, []
            for event in held:
                self._show_tool_event(event)
