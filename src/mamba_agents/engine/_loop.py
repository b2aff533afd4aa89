"""The agent loop: context in, events and new messages out. Persistence wraps it.

New messages are added to `RunProgress` only in complete units (an assistant message together
with all of its tool results), so a run stopped at any point never leaves a tool call
without its result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mamba_agents.backends import Backend, Completion, ModelRequest, TextChunk
from mamba_agents.backends._retry import complete_with_retries
from mamba_agents.config import RetryConfig
from mamba_agents.events import (
    AssistantMessage,
    Event,
    RetryEvent,
    TextDelta,
    ToolCallStarted,
    ToolResult,
    UsageEvent,
)
from mamba_agents.messages import Message, ToolCall, Usage
from mamba_agents.observability import mask_values
from mamba_agents.tokens import CostEstimator, TokenCounter, combine_sources
from mamba_agents.tools import Decision, PermissionPolicy, Tool, suggest_rule

# Asked when a rule says "ask": (call, tool, decision) -> allowed?
Approver = Callable[[ToolCall, Tool, Decision], Awaitable[bool]]


@dataclass(frozen=True)
class ToolGate:
    """The runtime's checks around each tool call: permission before it (no policy:
    everything runs), and after it the known secrets masked in what it returned."""

    policy: PermissionPolicy | None = None
    approver: Approver | None = None
    secrets: tuple[str, ...] = ()

    def clean(self, text: str) -> str:
        """A tool's result with every known secret value masked."""
        return mask_values(text, self.secrets)

    async def refusal(self, call: ToolCall, tool: Tool, arguments: dict[str, Any]) -> str | None:
        """None when the call may run, else the refusal the model will read."""
        if self.policy is None:
            return None
        decision = self.policy.decide(tool.name, arguments, tool.risk)
        if decision.action == "allow":
            return None
        if decision.action == "ask" and self.approver is not None:
            if await self.approver(call, tool, decision):
                return None
            return f"Error: permission denied by the user for {tool.name}"
        if decision.action == "deny":
            return f"Error: permission denied for {tool.name}: {decision.reason}"
        rule = suggest_rule(tool.name, arguments)
        return (
            f"Error: permission needed for {tool.name}: {decision.reason}; the user can "
            f"allow it with --allow '{rule}' or a [permissions] allow rule"
        )


@dataclass(frozen=True)
class LoopOptions:
    """Limits and request parameters of one run."""

    model: str
    max_turns: int = 25
    max_cost: float | None = None
    tool_timeout: float = 120.0
    temperature: float | None = None
    max_tokens: int | None = None
    retry: RetryConfig = field(default_factory=RetryConfig)


@dataclass
class RunProgress:
    """What a run has done so far; read by the driver even when the run is cut short."""

    new_messages: list[Message] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    cost_sources: list[str] = field(default_factory=list)
    num_turns: int = 0
    permission_denials: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    streaming_text: list[str] = field(default_factory=list)

    @property
    def cost_source(self) -> str:
        return combine_sources(self.cost_sources) if self.cost_sources else "estimated"

    @property
    def output(self) -> str:
        for message in reversed(self.new_messages):
            if message.role == "assistant" and message.text:
                return message.text
        return ""


async def advance(
    *,
    system_prompt: str | None,
    history: list[Message],
    prompt: Message,
    backend: Backend,
    tools: dict[str, Tool],
    options: LoopOptions,
    pricing: CostEstimator,
    progress: RunProgress,
    counter: Callable[[], TokenCounter],
    gate: ToolGate | None = None,
) -> AsyncIterator[Event]:
    """Run one user turn to a final answer or a limit; sets `progress.status`."""
    progress.new_messages.append(prompt)
    schemas = [t.schema() for t in tools.values()] or None
    retries: list[RetryEvent] = []

    def on_retry(attempt: int, wait: float, reason: str) -> None:
        retries.append(RetryEvent(attempt, wait, reason))

    while True:
        if progress.num_turns >= options.max_turns:
            progress.status = "max_turns"
            return
        if options.max_cost is not None and progress.cost_usd >= options.max_cost:
            progress.status = "max_cost"
            return
        wire = [m.to_wire() for m in history + progress.new_messages]
        if system_prompt:
            wire.insert(0, {"role": "system", "content": system_prompt})
        request = ModelRequest(wire, schemas, options.temperature, options.max_tokens)
        started = time.monotonic()
        completion: Completion | None = None
        progress.streaming_text = []
        try:
            async for item in complete_with_retries(
                backend,
                request,
                options.retry,
                on_retry,
            ):
                while retries:
                    yield retries.pop(0)
                if isinstance(item, TextChunk):
                    progress.streaming_text.append(item.text)
                    yield TextDelta(item.text)
                else:
                    completion = item
        except asyncio.CancelledError:
            _keep_interrupted_text(progress, options.model)
            raise
        progress.streaming_text = []
        assert completion is not None
        progress.num_turns += 1
        usage = completion.usage or _counted_usage(counter(), wire, completion.message)
        cost, source = pricing.cost_of(usage, options.model, completion.reported_cost)
        assistant = completion.message.with_updates(
            model=options.model,
            usage=usage,
            cost_usd=cost,
            cost_source=source if completion.usage or source == "unpriced" else "estimated",
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        progress.usage = progress.usage + usage
        progress.cost_usd += cost
        progress.cost_sources.append(assistant.cost_source or source)
        yield UsageEvent(options.model, usage, cost, assistant.cost_source or source)
        yield AssistantMessage(assistant)
        if not assistant.tool_calls:
            progress.new_messages.append(assistant)
            progress.status = "success"
            return
        stop = _limit_reached(progress, options)
        if stop:
            results = [
                Message.tool_result(c, f"Error: not run: the run stopped ({stop} reached)")
                for c in assistant.tool_calls
            ]
            progress.new_messages.extend([assistant, *results])
            progress.status = stop
            return
        async for event in _run_tools(
            assistant, tools, options.tool_timeout, progress, gate or ToolGate()
        ):
            yield event


def _limit_reached(progress: RunProgress, options: LoopOptions) -> str | None:
    if progress.num_turns >= options.max_turns:
        return "max_turns"
    if options.max_cost is not None and progress.cost_usd >= options.max_cost:
        return "max_cost"
    return None


def _keep_interrupted_text(progress: RunProgress, model: str) -> None:
    """Keep what streamed before an interruption, marked as such."""
    text = "".join(progress.streaming_text)
    if text:
        progress.new_messages.append(
            Message(role="assistant", content=text, model=model, status="interrupted")
        )
    progress.streaming_text = []


def _counted_usage(counter: TokenCounter, wire: list[dict[str, Any]], answer: Message) -> Usage:
    """Usage counted locally when the provider reported none."""
    output = counter.count(answer.text) + sum(counter.count(c.arguments) for c in answer.tool_calls)
    return Usage(input_tokens=counter.count_messages(wire), output_tokens=output)


def _prepare(call: ToolCall, tools: dict[str, Tool]) -> tuple[Tool, dict[str, Any]] | str:
    """The tool and its arguments, or the error the model will read."""
    tool = tools.get(call.name)
    if tool is None:
        known = ", ".join(sorted(tools)) or "none"
        return f"Error: unknown tool '{call.name}' (available: {known})"
    try:
        return tool, call.parsed_arguments()
    except ValueError as exc:
        return f"Error: invalid arguments for {call.name}: {exc}"


async def _invoke(tool: Tool, arguments: dict[str, Any], timeout: float) -> tuple[str, bool]:
    try:
        return await asyncio.wait_for(tool.invoke(arguments), timeout), False
    except TimeoutError:
        return f"Error: {tool.name} timed out after {timeout:g} s", True
    except TypeError as exc:
        return f"Error: invalid arguments for {tool.name}: {exc}", True
    except Exception as exc:
        return f"Error: {type(exc).__name__}: {exc}", True


async def _run_tools(
    assistant: Message,
    tools: dict[str, Tool],
    timeout: float,
    progress: RunProgress,
    gate: ToolGate,
) -> AsyncIterator[Event]:
    """Check each call's permission (one at a time), then run the allowed calls
    concurrently; add the assistant message and every result together."""
    calls = assistant.tool_calls
    results: dict[int, Message] = {}
    runnable: list[tuple[int, Tool, dict[str, Any]]] = []
    tasks: list[asyncio.Future[tuple[int, str, bool, int]]] = []
    try:
        for index, call in enumerate(calls):
            yield ToolCallStarted(call.id, call.name, call.arguments)
            prepared = _prepare(call, tools)
            refusal = prepared if isinstance(prepared, str) else await gate.refusal(call, *prepared)
            if refusal is None:
                runnable.append((index, *prepared))
                continue
            if not isinstance(prepared, str):
                progress.permission_denials.append(
                    {
                        "tool": call.name,
                        "call_id": call.id,
                        "arguments": prepared[1],
                        "reason": refusal.removeprefix("Error: "),
                    }
                )
            results[index] = Message.tool_result(call, refusal)
            yield ToolResult(call.id, call.name, refusal, True, 0)
        started = time.monotonic()

        async def timed(
            index: int, tool: Tool, arguments: dict[str, Any]
        ) -> tuple[int, str, bool, int]:
            content, failed = await _invoke(tool, arguments, timeout)
            return index, gate.clean(content), failed, int((time.monotonic() - started) * 1000)

        tasks = [asyncio.ensure_future(timed(*item)) for item in runnable]
        for next_done in asyncio.as_completed(tasks):
            index, content, failed, elapsed = await next_done
            results[index] = Message.tool_result(calls[index], content)
            yield ToolResult(calls[index].id, calls[index].name, content, failed, elapsed)
    finally:
        for task in tasks:
            task.cancel()
        ordered = [
            results.get(i) or Message.tool_result(c, "Error: interrupted before the tool finished")
            for i, c in enumerate(calls)
        ]
        progress.new_messages.extend([assistant, *ordered])
