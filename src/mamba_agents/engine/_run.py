"""One user turn, run a step at a time: `async for step in run`.

Between steps the caller may look at the run (`messages`, `usage`, `cost_usd`), change the
context the next request sends (`history`), or stop. New messages are added only in
complete units (an assistant message with every one of its tool results), so a run stopped
at any point never leaves a tool call without its result.

Before each model request the run asks its `compactor` to keep the context inside the
window; when the provider still answers that the prompt is too long, it asks once more
(saying so) and sends the request again, once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mamba_agents.backends import Backend, ModelRequest
from mamba_agents.config import RetryConfig
from mamba_agents.engine._steps import (
    Emit,
    ModelResponse,
    ToolGate,
    ToolOutcome,
    counted_usage,
    request_model,
    run_tools,
)
from mamba_agents.errors import ContextWindowExceededError
from mamba_agents.events import (
    ErrorEvent,
    Event,
    RunResult,
    TextDelta,
    ToolCallStarted,
    ToolResult,
    UsageEvent,
)
from mamba_agents.messages import Message, Usage
from mamba_agents.tokens import CostEstimator, TokenCounter, UsageRecord, UsageTracker
from mamba_agents.tools import Tool

__all__ = ["AgentRun", "Compactor", "ModelStep", "RunLimits", "Step", "ToolStep"]

# Called before each model request with the run, and again with the provider's error when
# the prompt did not fit; it makes the context shorter (changing `history`) or raises.
Compactor = Callable[["AgentRun", ContextWindowExceededError | None], Awaitable[None]]


@dataclass(frozen=True)
class RunLimits:
    """Limits and request parameters of one run."""

    model: str
    max_turns: int = 25
    max_cost: float | None = None
    tool_timeout: float = 120.0
    temperature: float | None = None
    max_tokens: int | None = None
    retry: RetryConfig = field(default_factory=RetryConfig)

    def reached(self, num_turns: int, cost_usd: float) -> str | None:
        """`max_turns` or `max_cost` when that limit is reached, else None."""
        if num_turns >= self.max_turns:
            return "max_turns"
        if self.max_cost is not None and cost_usd >= self.max_cost:
            return "max_cost"
        return None


@dataclass(frozen=True)
class ModelStep:
    """A model request is done: the assistant message, its usage and cost, why the model
    stopped, and whether it asked for tools (the next step runs them)."""

    response: ModelResponse

    @property
    def message(self) -> Message:
        return self.response.message

    @property
    def usage(self) -> Usage:
        return self.response.usage

    @property
    def cost_usd(self) -> float:
        return self.response.cost_usd

    @property
    def stop_reason(self) -> str | None:
        return self.response.stop_reason


@dataclass(frozen=True)
class ToolStep:
    """Tool calls are done: one result message per call, in call order."""

    outcome: ToolOutcome

    @property
    def results(self) -> tuple[Message, ...]:
        return self.outcome.results


Step = ModelStep | ToolStep


class AgentRun:
    """One user turn in progress. Iterate it to take one step at a time; `status` is
    `running` until it ends (`success`, `max_turns`, `max_cost`, or what `halt` set)."""

    def __init__(
        self,
        *,
        prompt: Message,
        history: list[Message],
        system_prompt: str | None,
        backend: Callable[[], Backend],
        tools: dict[str, Tool],
        limits: RunLimits,
        pricing: CostEstimator,
        counter: Callable[[], TokenCounter],
        gate: ToolGate,
        emit: Emit,
        compactor: Compactor | None = None,
        fit_result: Callable[[Message], Message] | None = None,
    ):
        self.history = list(history)
        self.system_prompt = system_prompt
        self.new_messages: list[Message] = [prompt]
        self.tools = tools
        self.limits = limits
        self.status = "running"
        self.stop_reason: str | None = None
        self.permission_denials: list[dict[str, Any]] = []
        self.usage_tracker = UsageTracker(pricing)
        self.compaction_cost = 0.0
        """What the compactions during the run cost (part of `cost_usd` and its limit)."""
        self.recorded = 0
        """How many of `new_messages` are already in `history` (a compaction during the
        run saved them to the session first)."""
        self._backend = backend
        self._compactor = compactor
        self._fit = fit_result or (lambda message: message)
        self._pricing = pricing
        self._counter = counter
        self._gate = gate
        self._emit = emit
        self._pending: Message | None = None  # the assistant message whose calls run next
        self._streamed: list[str] = []  # text of the request in progress
        self._finished: dict[str, str] = {}  # results of the tool step in progress
        self._halted: str | None = None
        self._finishing = False
        self._in_flight: ModelRequest | None = None  # the request being answered
        self._called: set[str] = set()  # calls announced with a tool_call event
        self._started = time.monotonic()
        self.final: RunResult | None = None
        """The run's result, once it has ended and been recorded."""

    # -- what the caller can look at ------------------------------------------------------
    @property
    def messages(self) -> list[Message]:
        """The context the next request sends (system prompt aside)."""
        return [*self.history, *self.new_messages[self.recorded :]]

    @property
    def num_turns(self) -> int:
        """Model requests made so far."""
        return len(self.usage_tracker.get_history())

    @property
    def usage(self) -> Usage:
        return self.usage_tracker.get_total().usage

    @property
    def cost_usd(self) -> float:
        return self.usage_tracker.get_cost() + self.compaction_cost

    @property
    def output(self) -> str:
        """The last answer text of this run."""
        for message in reversed(self.new_messages):
            if message.role == "assistant" and message.text:
                return message.text
        return ""

    # -- stepping ---------------------------------------------------------------------------
    def __aiter__(self) -> AgentRun:
        return self

    async def __anext__(self) -> Step:
        step = await self.next()
        if step is None:
            raise StopAsyncIteration
        return step

    async def next(self) -> Step | None:
        """Take the next step; None once the run has ended."""
        if self.status != "running":
            return None
        if self._halted is not None:
            self.close()
            return None
        if self._finishing and self._pending is None:
            self.status = "success"
            return None
        limit = self.limits.reached(self.num_turns, self.cost_usd)
        if limit is not None:
            self._end(limit, f"Error: not run: the run stopped ({limit} reached)")
            return None
        if self._pending is not None:
            return await self._tool_step(self._pending)
        return await self._model_step()

    def finish(self) -> None:
        """End the run as a success once the step in progress is done (a workflow has its
        answer); no further model request is made."""
        self._finishing = True

    def halt(self, status: str) -> None:
        """End the run with `status` (`interrupted`, `timeout`) at the next chance; a step
        cut short keeps what it had done (see `close`)."""
        self._halted = self._halted or status

    async def _model_step(self) -> ModelStep:
        if self._compactor is not None:
            await self._compactor(self, None)
        try:
            response = await self._request()
        except ContextWindowExceededError as exc:
            if self._compactor is None:
                raise
            await self._compactor(self, exc)
            try:
                response = await self._request()
            except ContextWindowExceededError as again:
                again.args = (f"{again} (still too long after compacting)",)
                raise
        message = response.message
        self.usage_tracker.add(
            UsageRecord(
                message.model or "", response.usage, response.cost_usd, response.cost_source
            )
        )
        self.stop_reason = response.stop_reason
        if message.tool_calls:
            self._pending = message
        else:
            self.new_messages.append(message)
            self.status = "success"
        return ModelStep(response)

    async def _request(self) -> ModelResponse:
        wire = [m.to_wire() for m in self.messages]
        if self.system_prompt:
            wire.insert(0, {"role": "system", "content": self.system_prompt})
        schemas = [t.schema() for t in self.tools.values()] or None
        request = ModelRequest(wire, schemas, self.limits.temperature, self.limits.max_tokens)
        self._streamed, self._in_flight = [], request
        response = await request_model(
            self._backend(),
            request,
            model=self.limits.model,
            retry=self.limits.retry,
            pricing=self._pricing,
            counter=self._counter,
            emit=self._observe,
            content=self._gate.content,
        )
        self._streamed, self._in_flight = [], None
        return response

    async def _tool_step(self, assistant: Message) -> ToolStep:
        self._finished = {}
        outcome = await run_tools(
            assistant.tool_calls,
            self.tools,
            timeout=self.limits.tool_timeout,
            gate=self._gate,
            emit=self._observe,
        )
        self._finished = {}
        self._pending = None
        self.new_messages.extend([assistant, *map(self._fit, outcome.results)])
        self.permission_denials.extend(outcome.denials)
        return ToolStep(outcome)

    def _observe(self, event: Event) -> None:
        """Keep what a step cut short would lose, then pass the event on."""
        if isinstance(event, TextDelta):
            self._streamed.append(event.text)
        elif isinstance(event, ToolCallStarted):
            self._called.add(event.call_id)
        elif isinstance(event, ToolResult):
            self._finished[event.call_id] = event.content
        self._emit(event)

    def _end(self, status: str, unrun: str) -> None:
        """End with `status`; calls still pending get `unrun` as their result, announced
        like any other so that every tool_call event has its tool_result."""
        if self._pending is not None:
            results = []
            for call in self._pending.tool_calls:
                if call.id not in self._finished:
                    if call.id not in self._called:
                        self._observe(ToolCallStarted(call.id, call.name, call.arguments))
                    self._observe(ToolResult(call.id, call.name, unrun, True, 0))
                results.append(self._fit(Message.tool_result(call, self._finished[call.id])))
            self.new_messages.extend([self._pending, *results])
            self._pending = None
        self.status = status

    # -- ending -----------------------------------------------------------------------------
    def close(self, *, cancelled: bool = False) -> None:
        """End a run that did not finish by itself: keep the text that streamed before it
        was cut short (marked `interrupted`), give unfinished tool calls an error result."""
        if self.status != "running":
            return
        text = "".join(self._streamed)
        if text and self._in_flight is not None:
            self.new_messages.append(self._cut_short(self._in_flight, text))
        self._streamed, self._in_flight = [], None
        reason = "interrupted before the tool finished" if cancelled else "the run was stopped"
        self._end(self._halted or "interrupted", f"Error: {reason}")

    def _cut_short(self, request: ModelRequest, text: str) -> Message:
        """The answer a cut-short request streamed, marked `interrupted`; its tokens are
        counted locally and priced (the provider sent no usage for it)."""
        model = self.limits.model
        answer = Message(role="assistant", content=text, model=model, status="interrupted")
        usage = counted_usage(self._counter(), request.messages, answer)
        cost, source = self._pricing.cost_of(usage, model)
        self.usage_tracker.add(UsageRecord(model, usage, cost, source))
        self._emit(UsageEvent(model, usage, cost, source))
        return answer.with_updates(usage=usage, cost_usd=cost, cost_source=source)

    def result(self, error: BaseException | None = None) -> RunResult:
        """The run's result; with `error` the run failed and keeps nothing."""
        if error is not None:
            self._emit(ErrorEvent(type(error).__name__, str(error)))
        status = "error" if error is not None else self.status
        return RunResult(
            status=status,
            output="" if error is not None else self.output,
            new_messages=[] if error is not None else list(self.new_messages),
            num_turns=self.num_turns,
            usage=self.usage,
            cost_usd=self.cost_usd,
            cost_source=self.usage_tracker.get_cost_source(),
            duration_ms=int((time.monotonic() - self._started) * 1000),
            permission_denials=list(self.permission_denials),
            error=str(error) if error is not None else _LIMIT_MESSAGES.get(status),
            stop_reason=self.stop_reason,
            model=self.limits.model,
            exception=error,
        )


_LIMIT_MESSAGES = {
    "max_turns": "turn limit reached",
    "max_cost": "cost limit reached",
    "timeout": "timed out",
    "interrupted": "interrupted",
}
