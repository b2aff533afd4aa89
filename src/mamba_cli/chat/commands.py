"""Slash commands of the chat, each with its help text."""

from __future__ import annotations

import base64
import difflib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mamba_cli import output
from mamba_cli.chat import status
from mamba_cli.chat.diff_view import diff_line_style, is_diff
from mamba_cli.chat.markdown_stream import MarkdownStream
from mamba_cli.chat.styles import BOLD, DIM, RED, RESET, YELLOW
from mamba_cli.output import plural, shorten


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    handler: Callable[[str], Awaitable[str | None]]


class SlashCommands:
    """The registry and the handlers; a handler returns "exit" to leave the chat."""

    def __init__(self, app: Any):
        self.app = app
        self.table: dict[str, Command] = {}
        for name, usage, help_text, handler in (
            ("/help", "/help [COMMAND]", "show commands and key bindings", self.help),
            ("/model", "/model [NAME]", "show or switch the model", self.model),
            ("/system", "/system [TEXT]", "show or set the system prompt", self.system),
            ("/memory", "/memory", "the instruction files (AGENTS.md) in the prompt", self.memory),
            ("/tools", "/tools", "list tools, risk classes and whether they may run", self.tools),
            ("/tool", "/tool", "the last tool call's full arguments and output", self.tool),
            ("/permissions", "/permissions", "the permission rules in force", self.permissions),
            ("/mcp", "/mcp [reconnect NAME]", "MCP servers, their status and tools", self.mcp),
            ("/context", "/context", "tokens in the context by part", self.context),
            (
                "/compact",
                "/compact [FOCUS|preview|prompt]",
                "make the context shorter (steer the summary; preview is free)",
                self.compact,
            ),
            ("/cost", "/cost", "tokens and cost of this session", self.cost),
            ("/usage", "/usage", "usage today and in this session", self.usage),
            ("/history", "/history", "the turns of this conversation", self.history),
            (
                "/sessions",
                "/sessions [search WORDS]",
                "recent sessions, or those that mention WORDS",
                self.sessions,
            ),
            ("/resume", "/resume ID", "continue another session", self.resume),
            ("/fork", "/fork", "continue in a new session from here", self.fork),
            (
                "/rewind",
                "/rewind [N]",
                "go back N turns (default 1); later turns stay saved",
                self.rewind,
            ),
            ("/clear", "/clear", "start a new session", self.clear),
            ("/export", "/export [FILE]", "write the conversation as Markdown", self.export),
            ("/copy", "/copy", "copy the last answer (OSC 52, and to a file)", self.copy),
            ("/exit", "/exit", "leave (Ctrl-D too)", self.exit),
        ):
            self.table[name] = Command(name, usage, help_text, handler)

    def names(self) -> list[tuple[str, str]]:
        prompts = [(f"/{p.command}", f"MCP prompt: {p.description}") for p in self._prompts()]
        return [(c.name, c.help) for c in self.table.values()] + prompts

    def _prompts(self) -> list[Any]:
        manager = self.agent.mcp
        return manager.get_prompts() if manager is not None else []

    async def dispatch(self, text: str) -> str | None:
        name, _, argument = text.partition(" ")
        command = self.table.get(name.lower())
        prompt = next((p for p in self._prompts() if f"/{p.command}" == name), None)
        if command is None and prompt is not None:
            try:
                await self.use_prompt(prompt, argument.strip())
            except Exception as exc:  # a failing prompt must not end the chat
                self.app.alert(f"{name}: {exc}")
            return None
        if command is None:
            close = difflib.get_close_matches(name.lower(), self.table, n=1)
            hint = f"; did you mean {close[0]}?" if close else "; /help lists the commands"
            self.app.alert(f"unknown command {name}{hint}", YELLOW)
            return None
        try:
            return await command.handler(argument.strip())
        except Exception as exc:  # a failing command must not end the chat
            self.app.alert(f"{name}: {exc}")
            return None

    @property
    def agent(self) -> Any:
        return self.app.agent

    def say(self, text: str = "", style: str = "") -> None:
        self.app.say(text, style)

    # -- commands ----------------------------------------------------------------------------
    async def help(self, argument: str) -> None:
        if argument:
            command = self.table.get(argument if argument.startswith("/") else f"/{argument}")
            if command is None:
                self.say(f"no command {argument}", YELLOW)
            else:
                self.say(f"{command.usage}  {command.help}")
            return
        for command in self.table.values():
            self.say(f"  {command.usage:<18} {command.help}")
        from mamba_cli.chat.input import NEWLINE_KEYS

        self.say(
            f"Keys: Enter sends · {NEWLINE_KEYS} inserts a newline · Ctrl-X Ctrl-E opens "
            "$EDITOR · Ctrl-R searches history · Tab completes commands and paths · "
            "Ctrl-C stops a turn · Ctrl-D leaves",
            DIM,
        )

    async def model(self, argument: str) -> None:
        if argument:
            await self.agent.switch_model(argument)
        profile = self.agent.profile
        window = f"{profile.context_window:,}" if profile.context_window else "unknown"
        self.say(f"model {self.agent.model} ({self.agent.route.transport}, context {window})")

    async def system(self, argument: str) -> None:
        if argument:
            self.agent.set_system_prompt(argument)
            self.say("system prompt set for the next turns", DIM)
        else:
            self.say(self.agent.system_prompt or "(no system prompt)")

    async def memory(self, argument: str) -> None:
        from mamba_agents.paths import config_home
        from mamba_cli.system_prompt import CUT_NOTE, find_instructions

        found = find_instructions(Path.cwd(), config_home())
        if not found:
            self.say(
                "no instruction files: put an AGENTS.md (or MAMBA.md) in the project (from the "
                f"repository root down to this folder) or in {config_home()}"
            )
            return
        prompt = self.agent.system_prompt or ""
        missing = False
        for item in found:
            cut = ", cut at 64 KiB" if item.text.endswith(CUT_NOTE) else ""
            size = f"({plural(len(item.text.splitlines()), 'line')}{cut})"
            if item.block() in prompt:
                self.say(f"  loaded      {item.path} {size}")
            else:
                missing = True
                self.say(f"  not loaded  {item.path} {size}", YELLOW)
        if missing:
            self.say(
                "not in this session's system prompt: --system or /system replaces the default "
                "prompt and the files; a resumed session keeps the prompt it started with, and "
                "a file changed since then shows as not loaded",
                DIM,
            )

    async def tools(self, argument: str) -> None:
        policy = self.agent.permissions
        if not self.agent.tools:
            self.say("no tools (--no-tools or tools.enabled = false)")
            return
        from mamba_cli.tables import Column, print_table

        rows = [
            (
                tool.name,
                tool.risk,
                policy.decide(tool.name, {}, tool.risk).action if policy else "allow",
                tool.description.strip().splitlines()[0] if tool.description.strip() else "",
            )
            for tool in self.agent.tools.values()
        ]
        columns = [
            Column("tool"),
            Column("risk"),
            Column("action"),
            Column("what it does", wrap=True),
        ]
        print_table(columns, rows)

    async def tool(self, argument: str) -> None:
        record = self.app.last_tool
        if record is None:
            self.say("no tool has run in this chat yet")
            return
        # A failed call that took no time never ran (refused, or stopped before it began).
        facts = []
        if record.duration_ms or not record.is_error:
            facts.append(f"{record.duration_ms} ms")
        if record.is_error:
            facts.append("failed")
        self.say(f"{record.name} ({', '.join(facts)})", BOLD)
        self.say(f"arguments: {record.arguments}")
        lines = record.content.splitlines()
        if is_diff(lines[1:]):
            self.say(lines[0])
            for line in lines[1:]:
                self.say(line, diff_line_style(line))
        else:
            self.say(record.content or "(no output)")

    async def mcp(self, argument: str) -> None:
        manager = self.agent.mcp
        if manager is None:
            self.say("no MCP servers (add one with 'mamba mcp add', or use --mcp-config)")
            return
        action, _, name = argument.partition(" ")
        if action == "reconnect" and name.strip():
            manager.status(name.strip())  # an unknown name is an error before anything
            self.say(f"reconnecting {name.strip()} ...", DIM)
            await manager.reconnect(name.strip())
        elif action:
            self.say("usage: /mcp [reconnect NAME]", YELLOW)
            return
        self.agent.refresh_tools()  # servers that connected since
        tools = list(self.agent.tools.values())
        for server in manager.statuses():
            color = {"connected": "", "failed": RED}.get(server.status, DIM)
            timing = (
                f", started in {server.startup_seconds:.2f} s" if server.startup_seconds else ""
            )
            self.say(f"{server.name} ({server.transport}): {server.status}{timing}", color or BOLD)
            if server.error:
                self.say(f"  {server.error}", RED)
            prefix = f"mcp__{server.name}__"
            for tool in (t for t in tools if t.name.startswith(prefix)):
                self.say(f"  {tool.name:<30} {tool.risk:<6} {shorten(tool.description, 50)}")
            for prompt in (p for p in self._prompts() if p.server == server.name):
                self.say(f"  /{prompt.command:<29} prompt {shorten(prompt.description, 50)}")

    async def use_prompt(self, prompt: Any, argument: str) -> None:
        """Fill in an MCP prompt (`/mcp__server__prompt args`) and send it as a turn."""
        values = prompt_arguments(prompt, argument)
        messages = await self.agent.mcp.get_prompt(prompt.server, prompt.name, values)
        text = "\n\n".join(content for _, content in messages if content)
        if not text:
            self.say(f"/{prompt.command} gave no text", YELLOW)
            return
        self.say(f"(prompt /{prompt.command})", DIM)
        await self.app.turn(text)

    async def permissions(self, argument: str) -> None:
        from mamba_agents.tools import describe_rule

        policy = self.agent.permissions
        if policy is None:
            self.say("no permission policy: every tool may run")
            return
        settings = self.agent.settings
        shown = False
        for kind in ("deny", "ask", "allow"):
            for rule in getattr(policy, kind):
                if rule in getattr(settings.permissions, kind):
                    source = settings.item_source("permissions", kind, rule)
                elif (kind, rule) in self.app.saved_rules:
                    source = f"saved in this chat to {self.app.saved_rules[kind, rule]}"
                else:
                    source = f"--{kind} on the command line"
                self.say(f"  {kind:<5} {rule:<30} {describe_rule(rule)}  ({source})")
                shown = True
        if not shown:
            self.say("no rules: read-only tools run, write and execute tools ask")
        if policy.allow_all:
            self.say("--allow-all: everything no deny rule refuses is allowed", YELLOW)

    async def context(self, argument: str) -> None:
        state = self.agent.get_context_state(detail=True)
        for part, tokens in state.parts.items():
            self.say(f"  {part:<18} {status.human(tokens):>6}")
        total = sum(state.parts.values())
        window = state.context_window
        share = f" of {status.human(window)} ({100 * total / window:.0f}%)" if window else ""
        self.say(f"  {'total (estimated)':<18} {status.human(total):>6}{share}", BOLD)
        if state.source == "reported":
            self.say(f"  {status.context_figure(state)} by the last reported usage", DIM)

    async def compact(self, argument: str) -> None:
        from mamba_agents.context import SUMMARY_PROMPT

        if argument == "prompt":
            self.say(SUMMARY_PROMPT)
            return
        preview = argument == "preview"
        strategy = self.agent.compaction_config.strategy
        if not preview:
            self.app.spinner.start(f"compacting ({strategy})")
        try:
            result = await self.agent.compact(focus=argument or None, preview=preview)
        finally:
            self.app.spinner.stop()
        if not result.removed_count:
            self.say("nothing to compact: the context is only the recent turns", DIM)
            return
        figures = output.compaction_figures(result)
        if preview:
            self.say(f"{strategy} would fold or drop {figures} (estimated; no model call)")
            return
        cost = f", {status.money(result.cost_usd)}" if result.cost_usd else ""
        self.say(f"compacted {figures}{cost}; /rewind 1 brings the whole context back", DIM)
        if result.note:
            self.say(result.note, YELLOW)

    async def cost(self, argument: str) -> None:
        summary = self.agent.session_usage()
        usage = summary.total.usage
        self.say(
            f"session {self.agent.session.id[:8]}: "
            f"{plural(summary.total.request_count, 'request')}, "
            f"{status.human(usage.input_tokens)} in, {status.human(usage.output_tokens)} "
            f"out, cache {status.human(usage.cache_read_tokens)} read / "
            f"{status.human(usage.cache_write_tokens)} written"
        )
        source = summary.cost_source
        how = f" ({source})" if source in ("estimated", "reported") else ""
        self.say(f"cost {status.cost_text(summary.cost_usd, source)}{how}")

    async def usage(self, argument: str) -> None:
        from mamba_agents.usage import build_report

        if self.agent.store is None:
            self.say("sessions are not saved (--no-save): no usage history")
            return
        from datetime import date

        today = build_report(
            self.agent.store, self.agent.settings, by="day", since=date.today().isoformat()
        )

        totals = today.totals
        self.say(
            f"today: {plural(totals.requests, 'request')}, {status.human(totals.total_tokens)} "
            f"tokens, {output.money(totals.cost_usd, places=4)}"
            + (f" (+{totals.unpriced_tokens:,} unpriced tokens)" if totals.unpriced_tokens else "")
        )
        await self.cost("")

    async def history(self, argument: str) -> None:
        chain = list(reversed(self.agent.session.lineage()))
        if not chain:
            self.say("no turns yet")
        for number, state in enumerate(chain, 1):
            prompt = next(
                (
                    self.agent.session.messages[m].text
                    for m in state.added
                    if self.agent.session.messages[m].role == "user"
                ),
                "",
            )
            mark = f" ({state.status})" if state.status else ""
            self.say(f"  {number:>3}. {state.created_at[:19]}  {shorten(prompt, 70)}{mark}")

    async def sessions(self, argument: str) -> None:
        from mamba_agents.store import open_store

        store = self.agent.store or open_store(self.agent.settings)
        action, _, words = argument.partition(" ")
        if action == "search":
            await self._search(store, words)
            return
        if action:
            self.say("usage: /sessions [search WORDS]", YELLOW)
            return
        found, _ = store.list_sessions()
        for session in found[:10]:
            here = " ←" if session.id == self.agent.session.id else ""
            self.say(
                f"  {session.id[:8]}  {session.updated_at[:16]}  {shorten(session.title, 60)}{here}"
            )
        if not found:
            self.say("no saved sessions")

    async def _search(self, store: Any, words: str) -> None:
        """The sessions that mention `words`, best first, each with its matching words."""
        import asyncio

        from mamba_agents.search import search_sessions
        from mamba_agents.store import HIT_END, HIT_START

        if not words.strip():
            self.say("usage: /sessions search WORDS", YELLOW)
            return
        result = await asyncio.to_thread(search_sessions, store, words, limit=10)
        if not result.hits:
            self.say(f"no session mentions {words.strip()}")
            return
        import textwrap

        bold, plain = (BOLD, RESET) if self.app.color else ("", "")
        width = max(self.app.width() - 12, 20)
        for hit in result.hits:
            here = " ←" if hit.session_id == self.agent.session.id else ""
            self.say(f"  {hit.session_id[:8]}  {shorten(hit.title, width - 2)}{here}")
            for line in textwrap.wrap(output.terminal_safe(hit.snippet), width):
                # (wrap counts the marks, which take no room: a line may come out shorter)
                shown = line.replace(HIT_START, bold).replace(HIT_END, plain)
                self.app.out.write(f"            {shown}{plain}\n")
        self.say("/resume ID opens one", DIM)

    async def resume(self, argument: str) -> None:
        from mamba_agents.store import open_store

        if not argument:
            self.say("usage: /resume ID", YELLOW)
            return
        found = (self.agent.store or open_store(self.agent.settings)).resolve(argument)
        session = found.session if found.is_head else found.session.fork(found.state_id)
        self.agent.use_session(session)
        self.say(f"resumed session {session.id}", DIM)
        self.app.show_recent()

    async def fork(self, argument: str) -> None:
        origin = self.agent.session.id
        session = self.agent.fork()
        self.say(f"forked: now in session {session.id} (from {origin[:8]})", DIM)

    async def rewind(self, argument: str) -> None:
        if argument and not argument.strip().isdigit():
            self.say(f"usage: /rewind [N] (N: how many turns, a whole number; not {argument!r})")
            return
        turns = int(argument) if argument else 1
        if turns < 1:
            self.say("usage: /rewind [N] (N: 1 or more)")
            return
        state = self.agent.rewind(turns)
        if state is None:
            self.say("rewound to the start of the conversation (later turns stay saved)", DIM)
        else:
            prompt = next(
                (
                    self.agent.session.messages[m].text
                    for m in state.added
                    if self.agent.session.messages[m].role == "user"
                ),
                "",
            )
            self.say(
                f"rewound {turns} turn(s): continuing after “{shorten(prompt, 60)}” "
                "(later turns stay saved)",
                DIM,
            )

    async def clear(self, argument: str) -> None:
        self.agent.clear_context()
        self.say(f"new session {self.agent.session.id}", DIM)

    async def export(self, argument: str) -> None:
        from mamba_cli.commands.sessions import render_markdown

        path = Path(argument or f"mamba-{self.agent.session.id[:8]}.md").expanduser()
        path.write_text(render_markdown(self.agent.session), encoding="utf-8")
        self.say(f"wrote {path}", DIM)

    async def copy(self, argument: str) -> None:
        from mamba_agents.paths import mamba_home

        text = self.app.last_answer
        if not text:
            self.say("no answer to copy yet")
            return
        path = mamba_home() / "last-answer.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if self.app.out.isatty() and os.environ.get("TERM", "") not in ("", "dumb"):
            payload = base64.b64encode(text.encode()).decode()
            self.app.out.write(f"\033]52;c;{payload}\a")
            self.say(f"copied {len(text)} characters (terminal clipboard; also in {path})", DIM)
        else:
            self.say(f"no terminal clipboard here: the answer is in {path}", DIM)

    async def exit(self, argument: str) -> str:
        return "exit"


def render_recent(app: Any, turns: int = 3) -> None:
    """The last exchanges of the session, to show where a resumed chat stands."""
    messages = [m for m in app.agent.get_messages() if m.role in ("user", "assistant") and m.text]
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    start = users[-turns] if len(users) >= turns else 0
    for message in messages[start:]:
        if message.role == "user":
            app.say(f"› {shorten(message.text, app.width() - 4)}", BOLD)
        else:
            stream = MarkdownStream(app.out, app.width(), color=app.color)
            lines = message.text.splitlines()
            stream.feed("\n".join(lines[:20]) + ("\n…" if len(lines) > 20 else ""))
            stream.finish()
    if messages:
        app.say("─" * min(app.width(), 60), DIM)


def prompt_arguments(prompt: Any, text: str) -> dict[str, str]:
    """An MCP prompt's arguments from what followed its command: `NAME=value` words, or
    words in the order the prompt lists its arguments (the last takes the rest)."""
    import shlex

    names = [name for name, _ in prompt.arguments]
    words = shlex.split(text) if text else []
    values: dict[str, str] = {}
    positional = []
    for word in words:
        key, found, value = word.partition("=")
        if found and key in names:
            values[key] = value
        else:
            positional.append(word)
    free = [n for n in names if n not in values]
    if len(positional) > len(free) and free:
        positional[len(free) - 1 :] = [" ".join(positional[len(free) - 1 :])]
    if positional and not free:
        raise ValueError(f"/{prompt.command} takes no more arguments")
    values.update(zip(free, positional, strict=False))
    missing = [name for name, required in prompt.arguments if required and name not in values]
    if missing:
        usage = " ".join(f"{n}=..." for n in names)
        raise ValueError(f"missing {', '.join(missing)}; usage: /{prompt.command} {usage}")
    return values
