"""The `Agent` facade: a conversation with a model, its tools, usage and cost."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mamba_agents.backends import (
    Backend,
    ModelProfile,
    ModelRequest,
    create_backend,
    resolve_route,
)
from mamba_agents.config import AgentSettings, CompactionConfig
from mamba_agents.engine._recorder import SessionRecorder
from mamba_agents.engine._run import AgentRun, RunLimits
from mamba_agents.engine._spans import agent_attributes, compaction_attributes, run_attributes
from mamba_agents.engine._steps import Approver, ToolGate
from mamba_agents.errors import (
    AgentError,
    ConfigError,
    ContextWindowExceededError,
    limit_error,
)
from mamba_agents.events import (
    CompactionEvent,
    ErrorEvent,
    Event,
    InitEvent,
    RunResult,
    UsageEvent,
)
from mamba_agents.messages import Message
from mamba_agents.observability import content_recorded, span, start_export
from mamba_agents.store import Session, SessionStore, State, request_user
from mamba_agents.tokens import (
    CostBreakdown,
    CostEstimator,
    TokenCounter,
    TokenUsage,
    UsageRecord,
    UsageSummary,
    UsageTracker,
    combine_sources,
)
from mamba_agents.tools import PermissionPolicy, Tool, as_tool

if TYPE_CHECKING:
    from mamba_agents.context import CompactionResult
    from mamba_agents.mcp import MCPClientManager


@dataclass(frozen=True)
class AgentConfig:
    """Per-agent behaviour; None means "take it from the settings"."""

    system_prompt: str | None = None
    max_turns: int | None = None
    max_cost: float | None = None
    timeout: float | None = None
    tool_timeout: float | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    track_context: bool = True
    context: CompactionConfig | None = None


@dataclass(frozen=True)
class ContextState:
    """How full the context is. `source` is `reported` (from the last request's usage) or
    `estimated` (counted locally)."""

    token_count: int
    message_count: int
    context_window: int | None
    source: str
    parts: dict[str, int] = field(default_factory=dict)
    """With `get_context_state(detail=True)`: estimated tokens of the system prompt, the
    tool schemas and the user, assistant and tool messages."""

    @property
    def usage_ratio(self) -> float | None:
        return self.token_count / self.context_window if self.context_window else None


class Agent:
    """A conversation with a model.

    `model` is a `provider/name` string (default: the settings' model). The conversation is a
    `Session`: pass `store=` to save it after every run, `session=` to continue one.
    `permissions` (a `PermissionPolicy`) decides which tool calls run; calls it says "ask"
    about go to `approver`, and are refused when there is none. Without a policy every tool
    the agent was given may run.

    `toolsets` are more tools in groups (such as `MCPClientManager.get_toolsets()`);
    `mcp` is a manager whose servers the agent starts at its first turn (and stops in
    `aclose()`), offering their tools as `mcp__<server>__<tool>`. `name` and `description`
    say who the agent is in a workflow.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        settings: AgentSettings | None = None,
        config: AgentConfig | None = None,
        tools: Sequence[Tool | Callable[..., Any]] | None = None,
        system_prompt: str = "",
        backend: Backend | None = None,
        session: Session | None = None,
        store: SessionStore | None = None,
        permissions: PermissionPolicy | None = None,
        approver: Approver | None = None,
        toolsets: Sequence[Iterable[Tool]] | None = None,
        mcp: MCPClientManager | None = None,
        name: str | None = None,
        description: str = "",
    ):
        self.settings = settings if settings is not None else AgentSettings()
        self.config = config or AgentConfig()
        cfg = self.settings.model_backend
        self.route = resolve_route(
            model or cfg.model, base_url=cfg.base_url, transport=cfg.transport
        )
        self.model = self.route.model
        self.name = name or self.model
        """What workflows call the agent (default: its model)."""
        self.description = description
        """What the agent is for (a router picks agents by it)."""
        self._backend = backend
        self._own_tools: dict[str, Tool] = {}
        for item in [*(tools or ()), *(t for toolset in toolsets or () for t in toolset)]:
            tool = as_tool(item)
            if tool.name in self._own_tools:
                raise AgentError(f"two tools are named '{tool.name}'")
            self._own_tools[tool.name] = tool
        self.mcp = mcp
        self._started_mcp = False
        self.tools: dict[str, Tool] = dict(self._own_tools)
        self.store = store
        self.user = request_user(self.settings.store.user)
        """Who this agent's requests are recorded as (`[store] user`, or the OS user)."""
        observability = self.settings.observability
        start_export(observability)  # when the settings or OTEL_* variables ask for it
        self.gate = ToolGate(
            permissions,
            approver,
            self.settings.secret_values(),
            record_content=content_recorded(observability),
        )
        self.session = session or Session(model=self.model)
        explicit = self.config.system_prompt or system_prompt
        self.system_prompt: str = (
            explicit or self.session.system_prompt() or self.settings.agent.system_prompt
        )
        self.pricing = CostEstimator(self.settings)
        self._tracker = UsageTracker()
        self._counter: TokenCounter | None = None
        self._running: _Running | None = None
        self._in_turn = False
        self._loop_thread: _LoopThread | None = None
        self._compaction_retry_above = 0  # context size below which compaction waits
        self._learned_window: int | None = None  # from a context-exceeded error

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = create_backend(self.route, self.settings)
        return self._backend

    @property
    def profile(self) -> ModelProfile:
        """The model's facts, looked up once per model (the cost estimator keeps them)."""
        return self.pricing.profile(self.model)

    def _token_counter(self) -> TokenCounter:
        if self._counter is None:
            self._counter = TokenCounter()
        return self._counter

    def _limits(self, max_turns: int | None, max_cost: float | None) -> RunLimits:
        """This run's limits: the call's, else the agent config's, else the settings'."""
        agent_cfg, cfg = self.settings.agent, self.config
        turns = _first(max_turns, cfg.max_turns, agent_cfg.max_turns)
        cost = _first(max_cost, cfg.max_cost, agent_cfg.max_cost)
        if turns < 1:
            raise ConfigError(f"max_turns: must be at least 1, got {turns}")
        if cost is not None and cost < 0:
            raise ConfigError(f"max_cost: must not be negative, got {cost}")
        return RunLimits(
            model=self.model,
            max_turns=turns,
            max_cost=cost,
            tool_timeout=cfg.tool_timeout or agent_cfg.tool_timeout,
            temperature=_first(cfg.temperature, self.settings.model_backend.temperature),
            max_tokens=cfg.max_tokens or self.settings.model_backend.max_tokens,
            retry=self.settings.retry,
        )

    async def start_mcp(self) -> None:
        """Start the agent's MCP servers (once) and offer their tools from now on; the
        first turn does this itself. A server that fails is left out (see `mcp_status()`)."""
        if self.mcp is None:
            return
        if not self.mcp.started:
            self._started_mcp = True
            await self.mcp.start()
        self.refresh_tools()

    def refresh_tools(self) -> None:
        """Offer the tools of the MCP servers that are connected now (after a reconnect)."""
        self.tools = dict(self._own_tools)
        for tool in self.mcp.get_tools() if self.mcp is not None else ():
            self.tools.setdefault(tool.name, tool)

    def mcp_status(self) -> list[dict[str, Any]]:
        """Each MCP server's status as plain data (empty without servers)."""
        return [s.to_dict() for s in self.mcp.statuses()] if self.mcp is not None else []

    # -- running -----------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def iter(
        self,
        prompt: str | list[dict[str, Any]],
        *,
        max_turns: int | None = None,
        max_cost: float | None = None,
        on_event: Callable[[Event], None] | None = None,
        tools: Sequence[Tool | Callable[..., Any]] = (),
    ) -> AsyncIterator[AgentRun]:
        """Run one user turn a step at a time::

            async with agent.iter("fix the test") as run:
                async for step in run:  # a ModelStep, then a ToolStep if it asked for tools
                    if run.cost_usd > 0.5:
                        break

        Between steps the caller may inspect the run, change `run.history` (the context
        before this turn) or stop. When the block ends the run is recorded like any other
        (a run left early is `interrupted`) and `run.final` holds its `RunResult`.
        `on_event` receives every event as it happens (text deltas, retries, tool calls).
        `tools` are offered for this turn only, beside the agent's own (replacing any of the
        same name): a workflow's own tools, such as its final-answer tool.
        """
        if not isinstance(prompt, str | list):
            raise ConfigError(f"prompt: expected text or a list of content parts, got {prompt!r}")
        if self._in_turn:
            raise AgentError("this agent is already running a turn; one turn at a time")
        limits = self._limits(max_turns, max_cost)
        if not self.config.track_context:
            self.clear_context()
        recorder = SessionRecorder(
            self.session,
            self.store,
            parent=self.session.head,
            system=self.system_prompt or None,
            model=self.model,
            user=self.user,
        )

        def emit(event: Event) -> None:
            for item in recorder.handle(event):
                if isinstance(item, UsageEvent):
                    self._tracker.add(
                        UsageRecord(item.model, item.usage, item.cost_usd or 0.0, item.cost_source)
                    )
                elif isinstance(item, RunResult):
                    run.final = item
                if on_event is not None:
                    on_event(item)

        run = AgentRun(
            prompt=Message.user(prompt),
            history=self.session.context(),
            system_prompt=self.system_prompt,
            backend=lambda: self.backend,
            tools=self.tools,
            limits=limits,
            pricing=self.pricing,
            counter=self._token_counter,
            gate=self.gate,
            emit=emit,
            compactor=lambda run, overflow: self._keep_fitting(run, recorder, emit, overflow),
            fit_result=self._fit_tool_result,
        )
        if self._running is not None and self._running.task is asyncio.current_task():
            self._running.runs.append(run)  # so interrupt() and timeouts reach it at once
        saved = self.store is not None
        announced = False

        def announce() -> None:
            nonlocal announced
            if not announced:
                announced = True
                session_id = self.session.id if saved else None
                tools = sorted(self.tools)
                emit(InitEvent(session_id, self.model, tools, os.getcwd(), self.mcp_status()))

        self._in_turn = True
        session_id = self.session.id if saved else None
        with span(
            f"invoke_agent {self.name}", agent_attributes(self.name, self.model, session_id)
        ) as traced:
            try:
                await self.start_mcp()  # the first turn starts the servers; a timeout counts
                run.tools = {**self.tools, **{t.name: t for t in map(as_tool, tools)}}
                announce()
                yield run
            except asyncio.CancelledError:
                announce()
                run.close(cancelled=True)
                emit(run.result())
                raise
            except Exception as exc:
                announce()
                emit(run.result(error=exc))
                raise
            else:
                run.close()
                emit(run.result())
            finally:
                self._in_turn = False
                if run.final is not None and traced.recording:
                    traced.set_attributes(run_attributes(run.final))
                    if run.final.status == "timeout":
                        traced.set_status("error", run.final.error or "timed out")

    async def run_stream(
        self,
        prompt: str | list[dict[str, Any]],
        *,
        max_turns: int | None = None,
        max_cost: float | None = None,
        timeout: float | None = None,
        tools: Sequence[Tool | Callable[..., Any]] = (),
    ) -> AsyncIterator[Event]:
        """Run one user turn, yielding its events as they happen: `InitEvent` first, a
        `RunResult` always last.

        A run that fails leaves the session as it was; one stopped by a limit, a timeout or
        `interrupt()` keeps its complete messages in a new state marked with that status.
        """
        limit = _first(timeout, self.config.timeout, self.settings.agent.timeout)
        if limit is not None and limit <= 0:
            raise ConfigError(f"timeout: must be above zero, got {limit}")
        queue: asyncio.Queue[Any] = asyncio.Queue()
        runs: list[AgentRun] = []

        async def produce() -> None:
            async with self.iter(
                prompt,
                max_turns=max_turns,
                max_cost=max_cost,
                on_event=queue.put_nowait,
                tools=tools,
            ) as run:
                async for _ in run:
                    pass

        producer = asyncio.create_task(produce())
        producer.add_done_callback(lambda _: queue.put_nowait(_DONE))
        self._running = _Running(producer, runs)
        deadline = None if limit is None else time.monotonic() + limit
        ended = False
        try:
            while (event := await _next(queue, deadline)) is not _DONE:
                if event is _TIMED_OUT:
                    self._running.stop("timeout")
                    deadline = None
                    continue
                ended = ended or isinstance(event, RunResult)
                yield event
            if not ended and not producer.cancelled() and producer.exception() is not None:
                raise producer.exception()  # the turn could not begin (bad argument, busy)
        finally:
            if not producer.done():
                producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
            self._running = None

    def set_approver(self, approver: Approver | None) -> None:
        """Who is asked about tool calls the permission policy says "ask" for."""
        self.gate = dataclasses.replace(self.gate, approver=approver)

    def finish_turn(self) -> None:
        """End the running turn as a success once its current step is done (a workflow's
        final-answer tool does this)."""
        if self._running is not None:
            for run in self._running.runs:
                run.finish()

    def interrupt(self) -> None:
        """Stop the running turn (from a signal handler); it ends with status `interrupted`."""
        if self._running is not None:
            self._running.stop("interrupted")

    async def run(
        self,
        prompt: str | list[dict[str, Any]],
        *,
        max_turns: int | None = None,
        max_cost: float | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        """Run one user turn and return its result.

        Raises the provider's error when the run fails, `MaxTurnsError`,
        `BudgetExceededError` or `ModelTimeoutError` when a limit stopped it (the partial
        work is saved in the session first).
        """
        result: RunResult | None = None
        async for event in self.run_stream(
            prompt, max_turns=max_turns, max_cost=max_cost, timeout=timeout
        ):
            if isinstance(event, RunResult):
                result = event
        assert result is not None
        if result.status == "error":
            raise result.exception or AgentError(result.error or "run failed")
        limit = limit_error(result.status, result.error or result.status)
        if limit is not None:
            raise limit
        return result

    @property
    def permissions(self) -> PermissionPolicy | None:
        """The permission policy tool calls go through (None: every tool may run)."""
        return self.gate.policy

    def add_permission_rule(self, action: str, rule: str) -> None:
        """Add an `allow`, `ask` or `deny` rule for the rest of this agent's life (the
        settings files are not changed). Raises `RuleError` for a malformed rule."""
        if self.gate.policy is None:
            self.gate = dataclasses.replace(self.gate, policy=PermissionPolicy())
        self.gate.policy.add(action, rule)

    def set_system_prompt(self, prompt: str) -> None:
        """Use `prompt` as the system prompt from the next request on."""
        self.system_prompt = prompt

    def session_usage(self) -> UsageSummary:
        """Usage and cost of every model request in the session file, across all states."""
        return UsageTracker.from_messages(
            self.session.messages.values(), self.pricing
        ).get_summary()

    def run_sync(self, prompt: str | list[dict[str, Any]], **kwargs: Any) -> RunResult:
        """`run` for synchronous code; also works when an event loop is already running.

        An agent with MCP servers runs every call on one event loop of its own (in a
        background thread), so its servers live from one call to the next; `close()`
        stops them and that loop.
        """
        return self._sync(self.run(prompt, **kwargs))

    def close(self) -> None:
        """`aclose()` for synchronous code (after `run_sync`)."""
        self._sync(self.aclose())
        if self._loop_thread is not None:
            self._loop_thread.close()
            self._loop_thread = None

    def _sync(self, work: Any) -> Any:
        if self.mcp is not None:
            if self._loop_thread is None:
                self._loop_thread = _LoopThread()
            return self._loop_thread.run(work)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(work)
        outcome: dict[str, Any] = {}

        def worker() -> None:
            try:
                outcome["result"] = asyncio.run(work)
            except BaseException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=worker, name="mamba-run-sync")
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    async def aclose(self) -> None:
        """Close the transport's connections, and stop the MCP servers the agent started."""
        if self._backend is not None:
            await self._backend.aclose()
        if self.mcp is not None and self._started_mcp:
            self._started_mcp = False
            await self.mcp.aclose()

    # -- inspection --------------------------------------------------------------------------
    def get_messages(self) -> list[Message]:
        """The messages of the current context (system prompt not included)."""
        return self.session.context()

    def get_usage(self) -> TokenUsage:
        """Summed usage of this agent's model requests since the last reset."""
        return self._tracker.get_total()

    def get_usage_history(self) -> list[UsageRecord]:
        """One record per model request."""
        return self._tracker.get_history()

    def get_cost(self) -> float:
        """Cost in USD of this agent's requests since the last reset."""
        return sum(r.cost_usd for r in self._tracker.get_history())

    def get_cost_breakdown(self) -> CostBreakdown:
        """Prompt, completion and cache costs, summed over the requests since the last reset."""
        parts = [
            self.pricing.estimate(
                r.usage.input_tokens,
                r.usage.output_tokens,
                r.model,
                r.usage.cache_read_tokens,
                r.usage.cache_write_tokens,
            )
            for r in self._tracker.get_history()
        ]
        sources = [r.cost_source for r in self._tracker.get_history()]
        return CostBreakdown(
            prompt_cost=sum(p.prompt_cost for p in parts),
            completion_cost=sum(p.completion_cost for p in parts),
            cache_read_cost=sum(p.cache_read_cost for p in parts),
            cache_write_cost=sum(p.cache_write_cost for p in parts),
            source=combine_sources(sources) if sources else "estimated",
        )

    def get_token_count(self, text: str) -> int:
        """Tokens in `text` (tiktoken, offline)."""
        return self._token_counter().count(text)

    def get_context_state(self, *, detail: bool = False) -> ContextState:
        """Tokens in the context now, from the last reported usage where there is one;
        with `detail`, also a local estimate of each part of it (`parts`)."""
        messages = self.get_messages()
        parts = self._context_parts(messages) if detail else {}
        return self._measure(messages, self.session.compacted_prefix(), parts)

    def _measure(
        self, messages: list[Message], stale: int, parts: dict[str, int] | None = None
    ) -> ContextState:
        """The size of a context: the usage the provider reported for its last answer plus
        a count of what came after, or (with no such answer after the first `stale`
        messages, whose figures predate a compaction) a local estimate of it all."""
        window = self._window()
        counter = self._token_counter()
        index = _last_reported(messages, stale)
        if index is not None:
            usage = messages[index].usage
            assert usage is not None
            later = [m.to_wire() for m in messages[index + 1 :]]
            tokens = usage.total_tokens + (counter.count_messages(later) if later else 0)
            return ContextState(tokens, len(messages), window, "reported", parts or {})
        parts = parts or self._context_parts(messages)
        tokens = sum(parts.values()) + counter.count_messages([])  # the reply's priming
        return ContextState(tokens, len(messages), window, "estimated", parts)

    def _context_parts(self, messages: list[Message]) -> dict[str, int]:
        counter = self._token_counter()
        priming = counter.count_messages([])

        def count(wire: list[dict[str, Any]]) -> int:
            return counter.count_messages(wire) - priming if wire else 0

        parts = {
            "system prompt": count(
                [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
            ),
            "tool schemas": counter.count_tools([t.schema() for t in self.tools.values()]),
        }
        groups: dict[str, list[dict[str, Any]]] = {}
        for message in messages:
            group = "summaries" if message.status == "summary" else f"{message.role} messages"
            groups.setdefault(group, []).append(message.to_wire())
        for group in ("summaries", "user messages", "assistant messages", "tool messages"):
            if group in groups:
                parts[group] = count(groups[group])
        return parts

    # -- compaction --------------------------------------------------------------------------
    @property
    def compaction_config(self) -> CompactionConfig:
        """The agent's `context`, else the settings' `[context]`."""
        return self.config.context or self.settings.context

    def _window(self) -> int:
        """The model's context window: what the provider said in a context-exceeded error,
        else the model facts, else `default_context_window`."""
        return (
            self._learned_window
            or self.profile.context_window
            or self.settings.model_backend.default_context_window
        )

    def should_compact(self) -> bool:
        """Whether the context has passed the compaction trigger."""
        trigger = self.compaction_config.trigger_for(self._window())
        return self.get_context_state().token_count > trigger

    async def compact(
        self,
        *,
        focus: str | None = None,
        strategy: str | None = None,
        preview: bool = False,
        in_turn: bool = False,
        preserve_recent_turns: int | None = None,
    ) -> CompactionResult:
        """Make the context shorter with the configured strategy (or `strategy`). The
        session gets a new state of kind `compaction`; no message leaves the file, and the
        states before it still give the whole context. `focus` steers a summary; with
        `preview`, nothing changes and no model is asked. `in_turn` says the last turn is
        still running (its older tool steps may be folded too); `preserve_recent_turns`
        overrides the configured number."""
        from mamba_agents.context import ContextManager

        config = self.compaction_config
        if preserve_recent_turns is not None:
            config = dataclasses.replace(config, preserve_recent_turns=preserve_recent_turns)
        requests: list[Message] = []
        parts = self._context_parts([])
        manager = ContextManager(
            config,
            window=self._window(),
            ask=lambda wire, instruction: self._ask_for_compaction(wire, instruction, requests),
            counter=self._token_counter(),
            reserved=parts["system prompt"] + parts["tool schemas"],
        )
        manager.add_messages(self.session.context())
        if preview:
            return await manager.preview(strategy, in_turn=in_turn)
        with span("compaction", {"mamba.compaction.in_turn": in_turn}) as traced:
            result = await manager.compact(focus=focus, strategy=strategy, in_turn=in_turn)
            traced.set_attributes(compaction_attributes(result))
        self._track(requests)
        if not result.removed_count:
            return result
        summaries = [m for m in result.messages if m.id not in self.session.messages]
        receipt = {k: v for k, v in result.to_dict().items() if k != "summary"}
        receipt["request_ids"] = [m.id for m in requests]  # priced in `mamba usage`
        self.session.add_compaction(
            context=list(result.messages),
            stored=[*summaries, *requests],
            receipt=receipt,
            system=self.system_prompt or None,
            model=self.model,
            user=self.user,
        )
        if self.store is not None:
            self.store.save(self.session)
        return result

    def _track(self, requests: list[Message]) -> None:
        """Count compaction requests in the agent's usage."""
        for message in requests:
            if message.usage is not None:
                record = UsageRecord(
                    message.model or self.model,
                    message.usage,
                    message.cost_usd or 0.0,
                    message.cost_source or "unpriced",
                )
                self._tracker.add(record)

    def _fit_tool_result(self, message: Message) -> Message:
        """A tool result as it enters the context: cut to `tool_result_max_tokens`."""
        from mamba_agents.context import fit_tool_result

        limit = self.compaction_config.tool_result_limit(self._window())
        return fit_tool_result(message, limit, self._token_counter().count)

    def _refuse_if_the_prompt_alone_is_too_long(
        self, run: AgentRun, overflow: ContextWindowExceededError
    ) -> None:
        """Raise before compacting anything when the new prompt (with the system prompt
        and tool schemas) could not fit the window even with no history at all."""
        alone = self._measure(run.new_messages[-1:], 1).token_count
        if alone > self._window():
            raise _too_long(
                overflow,
                f"the prompt alone takes about {alone:,} tokens with the system prompt and "
                "tool schemas",
                advice="shorten the prompt (or offer fewer tools), or use a model with a "
                "larger window",
            )

    def _calibrated(self, overflow: ContextWindowExceededError, messages: list[Message]) -> int:
        """The window the provider named, in our token counts: when it also said how many
        tokens the prompt took, scaled by how far our local count falls short of that
        (another tokenizer), so that compaction aims where the provider will agree."""
        window = overflow.window or self._window()
        if overflow.prompt_tokens:
            local = self._measure(messages, len(messages)).token_count  # counted here
            if local < overflow.prompt_tokens:
                return max(int(window * local / overflow.prompt_tokens), 1)
        return window

    async def _keep_fitting(
        self,
        run: AgentRun,
        recorder: SessionRecorder,
        emit: Callable[[Event], None],
        overflow: ContextWindowExceededError | None,
    ) -> None:
        """Before each request of `run`: compact when its context would pass the trigger
        (with `auto_compact`). After the provider refused the prompt as too long
        (`overflow`): compact whatever the trigger says, or raise a clear error when
        compaction cannot help. A compaction in the middle of a run first saves the run's
        messages so far, so the compaction state holds them (nothing is lost)."""
        config = self.compaction_config
        opening = run.recorded == 0 and len(run.new_messages) == 1  # only the prompt yet
        if overflow is None and (not config.auto_compact or (opening and not self.session.states)):
            return  # off, or the first prompt of a session: nothing before it to compact
        stale = self.session.compacted_prefix(recorder.parent)
        tokens = 0
        if overflow is None:
            threshold = max(config.trigger_for(self._window()), self._compaction_retry_above)
            if _surely_below(run.messages, stale, threshold):
                return
            tokens = self._measure(run.messages, stale).token_count
            if tokens <= threshold:
                return
        elif overflow.window:
            self._learned_window = self._calibrated(overflow, run.messages)
        if not opening:
            recorder.save_progress(run.new_messages)
            run.recorded = recorder.recorded
            run.history = self.session.context()
        if not self.session.states:  # the first prompt of a session: nothing to compact
            if overflow is not None:
                raise _too_long(overflow, "compaction could not help: nothing came before it")
            return
        if overflow is not None and opening:
            self._refuse_if_the_prompt_alone_is_too_long(run, overflow)
        try:
            # The provider refused the prompt: keep only the running turn if need be (at
            # the start of a turn that is the new prompt itself, outside the history).
            keep = (
                None if overflow is None else 0 if opening else min(config.preserve_recent_turns, 1)
            )
            result = await self.compact(in_turn=not opening, preserve_recent_turns=keep)
        except AgentError as exc:
            if overflow is not None:
                raise _too_long(overflow, f"compaction failed: {exc}") from None
            emit(ErrorEvent(type(exc).__name__, f"compaction failed: {exc}"))
            return
        if not result.removed_count:
            reason = result.note or "nothing older than the recent turns to remove"
            if overflow is not None:
                raise _too_long(overflow, f"compaction could not help: {reason}")
            # Try again once the context has grown by a quarter, not at every request.
            self._compaction_retry_above = int(tokens * 1.25)
            emit(ErrorEvent("CompactionError", f"compaction did not help: {reason}"))
            return
        run.history, recorder.parent = self.session.context(), self.session.head
        run.compaction_cost += result.cost_usd
        # Still above the trigger (the recent turns alone are that large): compact again
        # once the context has grown by a quarter, not before every request.
        trigger = config.trigger_for(self._window())
        above = result.tokens_after > trigger
        self._compaction_retry_above = int(result.tokens_after * 1.25) if above else 0
        emit(
            CompactionEvent(
                result.strategy,
                result.removed_count,
                result.tokens_before,
                result.tokens_after,
                result.cost_usd,
                result.reached_target,
            )
        )

    async def _ask_for_compaction(
        self, wire: list[dict[str, Any]], instruction: str, requests: list[Message]
    ) -> tuple[str, float]:
        """One request for a summary or scores, to `summary_model` (else the agent's
        model); its answer is kept (with usage and cost) as a message of the session file,
        outside the context."""
        from mamba_agents.engine._steps import request_model

        model = self.compaction_config.summary_model or self.model
        backend = self.backend
        if model != self.model:
            cfg = self.settings.model_backend
            route = resolve_route(model, base_url=cfg.base_url, transport=cfg.transport)
            backend = create_backend(route, self.settings)
        messages = [*wire, {"role": "user", "content": instruction}]
        try:
            response = await request_model(
                backend,
                ModelRequest(messages),
                model=model,
                retry=self.settings.retry,
                pricing=self.pricing,
                counter=self._token_counter,
                emit=lambda event: None,
                content=self.gate.content,
            )
        finally:
            if backend is not self.backend:
                await backend.aclose()
        message = response.message.with_updates(status="compaction_request")
        requests.append(message)
        return message.text, message.cost_usd or 0.0

    def clear_context(self) -> None:
        """Start a new, empty conversation (a new session); the old one is kept."""
        self.session = Session(model=self.model)

    def use_session(self, session: Session) -> None:
        """Continue another session (its system prompt comes along unless one was set)."""
        self.session = session
        self.system_prompt = session.system_prompt() or self.system_prompt

    def rewind(self, turns: int = 1) -> State | None:
        """Continue from `turns` turns back; the later states stay in the session file.
        A compaction is stepped over, not counted as a turn (the context before it comes
        back); right after one, `rewind(1)` undoes it.

        Returns the state now continued from (None: the start of the conversation).
        """
        state = self.session.state()
        for _ in range(turns):
            if state is None:
                break
            state = self._parent(state)
            while state is not None and state.kind == "compaction":
                state = self._parent(state)
        self.session.head = state.id if state else None
        if self.store is not None:
            self.store.save(self.session)
        return state

    def _parent(self, state: State) -> State | None:
        return self.session.states.get(state.parent_id) if state.parent_id else None

    def fork(self) -> Session:
        """Continue in a new session that starts with this one's current context."""
        if self.session.head is None:
            self.session = Session(model=self.model)
        else:
            self.session = self.session.fork(self.session.head)
        if self.store is not None:
            self.store.save(self.session)
        return self.session

    async def switch_model(self, model: str) -> None:
        """Use another model from the next request on."""
        cfg = self.settings.model_backend
        await self.aclose()
        self._backend = None
        self.route = resolve_route(model, base_url=cfg.base_url, transport=cfg.transport)
        self.model = self.route.model

    def reset_tracking(self) -> None:
        """Forget the usage and cost recorded so far."""
        self._tracker.reset()


def _surely_below(messages: list[Message], stale: int, threshold: int) -> bool:
    """Whether a context is below `threshold` tokens for certain, without a tokenizer: the
    usage reported for its last answer plus one token per character after it (no token
    is shorter than a character)."""
    index = _last_reported(messages, stale)
    if index is None:
        return False
    usage = messages[index].usage
    assert usage is not None
    later = sum(len(json.dumps(m.to_wire())) for m in messages[index + 1 :])
    return usage.total_tokens + later < threshold


def _last_reported(messages: list[Message], stale: int) -> int | None:
    """The index of the last answer with provider-reported usage, after the first `stale`
    messages (whose figures predate a compaction); None when there is none."""
    for index in range(len(messages) - 1, stale - 1, -1):
        if messages[index].role == "assistant" and messages[index].usage is not None:
            return index
    return None


def _too_long(
    overflow: ContextWindowExceededError,
    why: str,
    advice: str = "start a new session, or use a model with a larger window",
) -> ContextWindowExceededError:
    """The provider's context-exceeded error, saying why compaction did not fix it and what
    the user can do."""
    return ContextWindowExceededError(
        f"{overflow}; {why}. To go on: {advice}",
        status_code=overflow.status_code,
        prompt_tokens=overflow.prompt_tokens,
        window=overflow.window,
    )


def _first(*values: Any) -> Any:
    """The first value that is not None."""
    return next((v for v in values if v is not None), None)


class _LoopThread:
    """An event loop running in a thread of its own, for `run_sync` calls that must share
    one loop (MCP servers belong to the loop that started them)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="mamba-agent-loop", daemon=True
        )
        self.thread.start()

    def run(self, work: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(work, self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


_DONE = object()
_TIMED_OUT = object()


async def _next(queue: asyncio.Queue[Any], deadline: float | None) -> Any:
    """The next event, or `_TIMED_OUT` once `deadline` has passed."""
    if deadline is None:
        return await queue.get()
    try:
        return await asyncio.wait_for(queue.get(), max(deadline - time.monotonic(), 0))
    except TimeoutError:
        return _TIMED_OUT


@dataclass(frozen=True)
class _Running:
    """The task running a turn, and the run once it has begun."""

    task: asyncio.Task[None]
    runs: list[AgentRun]

    def stop(self, status: str) -> None:
        """End the turn with `status`; what it finished is kept."""
        for run in self.runs:
            run.halt(status)
        if not self.task.done():
            self.task.cancel()
