"""The two steps of the agent loop, each with one job and a returned outcome.

`request_model` sends the context to the model (with retries) and returns the priced
assistant message; `run_tools` checks and runs its tool calls and returns their results.
Both report progress live through `emit`; neither keeps state of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mamba_agents.backends import (
    Backend,
    Completion,
    ModelRequest,
    TextChunk,
    breaker_for,
    complete_with_retries,
)
from mamba_agents.config import RetryConfig
from mamba_agents.engine._spans import request_attributes, response_attributes, tool_attributes
from mamba_agents.errors import ModelBackendError, ToolExecutionError
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
from mamba_agents.observability import mask_values, span
from mamba_agents.tokens import CostEstimator, TokenCounter
from mamba_agents.tools import Decision, PermissionPolicy, Tool, suggest_rule

Emit = Callable[[Event], None]
# Asked when a rule says "ask": (call, tool, decision) -> allowed?
Approver = Callable[[ToolCall, Tool, Decision], Awaitable[bool]]

# What providers say in `finish_reason`, in the words of the result object.
_STOP_REASONS = {
    "stop": "end_turn",
    "end_turn": "end_turn",
    "length": "max_tokens",
    "max_tokens": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "tool_use": "tool_use",
    "content_filter": "content_filter",
}


def stop_reason(finish_reason: str | None, message: Message) -> str | None:
    """`end_turn`, `max_tokens`, `tool_use`, `content_filter` (or the provider's own word)."""
    if finish_reason is None:
        return "tool_use" if message.tool_calls else None
    return _STOP_REASONS.get(finish_reason, finish_reason)


@dataclass(frozen=True)
class ModelResponse:
    """The outcome of one model request: the assistant message (with its model, usage,
    cost and duration) and why the model stopped."""

    message: Message
    stop_reason: str | None
    finish_reason: str | None = None
    """The provider's own word for why the answer ended."""
    response_model: str | None = None
    """The model the provider says answered."""
    response_id: str | None = None
    retries: int = 0

    @property
    def usage(self) -> Usage:
        return self.message.usage or Usage()

    @property
    def cost_usd(self) -> float:
        return self.message.cost_usd or 0.0

    @property
    def cost_source(self) -> str:
        return self.message.cost_source or "unpriced"


async def request_model(
    backend: Backend,
    request: ModelRequest,
    *,
    model: str,
    retry: RetryConfig,
    pricing: CostEstimator,
    counter: Callable[[], TokenCounter],
    emit: Emit,
    content: Callable[[str], str] | None = None,
) -> ModelResponse:
    """Send one request; each retry is emitted when it is decided, each piece of text as it
    streams. A request that fails after retries says how many attempts it made.

    The request is a `chat` span (OpenTelemetry's GenAI conventions); `content`, when
    given, puts the messages sent and the answer in it, each passed through it first (to
    mask secrets). Requests to an endpoint whose circuit breaker is open fail at once."""
    with span(f"chat {model}", request_attributes(model, request), kind="client") as traced:
        if content is not None and traced.recording:
            traced.set_attribute("gen_ai.input.messages", content(json.dumps(request.messages)))
        async with breaker_for(backend, retry) or contextlib.nullcontext():
            response = await _request_model(backend, request, model, retry, pricing, counter, emit)
        if traced.recording:
            traced.set_attributes(response_attributes(response))
            if content is not None:
                answer = json.dumps([response.message.to_wire()])
                traced.set_attribute("gen_ai.output.messages", content(answer))
        return response


async def _request_model(
    backend: Backend,
    request: ModelRequest,
    model: str,
    retry: RetryConfig,
    pricing: CostEstimator,
    counter: Callable[[], TokenCounter],
    emit: Emit,
) -> ModelResponse:
    started = time.monotonic()
    completion: Completion | None = None
    retries = 0

    def on_retry(attempt: int, wait: float, reason: str) -> None:
        nonlocal retries
        retries = attempt
        emit(RetryEvent(attempt, wait, reason))

    try:
        async for item in complete_with_retries(backend, request, retry, on_retry):
            if isinstance(item, TextChunk):
                emit(TextDelta(item.text))
            else:
                completion = item
    except ModelBackendError as exc:
        if retries:
            exc.args = (f"{exc} (gave up after {retries + 1} attempts)",)
        raise
    assert completion is not None
    usage = completion.usage
    if usage is None:
        usage = counted_usage(counter(), request.messages, completion.message)
    cost, source = pricing.cost_of(usage, model, completion.reported_cost)
    if completion.usage is None and source != "unpriced":
        source = "estimated"
    message = completion.message.with_updates(
        model=model,
        usage=usage,
        cost_usd=cost,
        cost_source=source,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    emit(UsageEvent(model, usage, cost, source))
    emit(AssistantMessage(message))
    return ModelResponse(
        message,
        stop_reason(completion.finish_reason, message),
        finish_reason=completion.finish_reason,
        response_model=completion.response_model,
        response_id=completion.response_id,
        retries=retries,
    )


def counted_usage(counter: TokenCounter, wire: list[dict[str, Any]], answer: Message) -> Usage:
    """Usage counted locally when the provider reported none (or never finished)."""
    output = counter.count(answer.text) + sum(counter.count(c.arguments) for c in answer.tool_calls)
    return Usage(input_tokens=counter.count_messages(wire), output_tokens=output)


@dataclass(frozen=True)
class ToolGate:
    """The runtime's checks around each tool call: permission before it (no policy:
    everything runs), and after it the known secrets masked in what it returned."""

    policy: PermissionPolicy | None = None
    approver: Approver | None = None
    secrets: tuple[str, ...] = ()
    record_content: bool = False
    """Whether texts (prompts, answers, tool arguments and results) go into spans."""

    @property
    def content(self) -> Callable[[str], str] | None:
        """What texts pass through on their way into a span; None: they stay out."""
        return self.clean if self.record_content else None

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
class ToolOutcome:
    """The results of one assistant message's tool calls, in call order, and the calls the
    permission rules refused."""

    results: tuple[Message, ...]
    denials: tuple[dict[str, Any], ...] = ()


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
    except ToolExecutionError as exc:
        return f"Error: {exc}", True
    except Exception as exc:
        return f"Error: {type(exc).__name__}: {exc}", True


async def run_tools(
    calls: tuple[ToolCall, ...],
    tools: dict[str, Tool],
    *,
    timeout: float,
    gate: ToolGate,
    emit: Emit,
) -> ToolOutcome:
    """Check each call's permission (one at a time: a person may be asked), then run the
    allowed calls concurrently. Every call gets a result, refused or failed ones an error."""
    contents: dict[int, str] = {}
    denials: list[dict[str, Any]] = []
    runnable: list[tuple[int, Tool, dict[str, Any]]] = []
    for index, call in enumerate(calls):
        emit(ToolCallStarted(call.id, call.name, call.arguments))
        prepared = _prepare(call, tools)
        refusal = prepared if isinstance(prepared, str) else await gate.refusal(call, *prepared)
        if refusal is None:
            runnable.append((index, *prepared))
            continue
        with span(f"execute_tool {call.name}", tool_attributes(call.name, call.id, None)) as traced:
            traced.set_attributes({"mamba.tool.status": "refused", "error.type": "refused"})
            traced.set_status("error", refusal.removeprefix("Error: "))
        if not isinstance(prepared, str):
            denials.append(
                {
                    "tool": call.name,
                    "call_id": call.id,
                    "arguments": prepared[1],
                    "reason": refusal.removeprefix("Error: "),
                }
            )
        contents[index] = refusal
        emit(ToolResult(call.id, call.name, refusal, True, 0))
    started = time.monotonic()

    async def timed(index: int, tool: Tool, arguments: dict[str, Any]) -> tuple[int, str, bool]:
        call = calls[index]
        with span(
            f"execute_tool {tool.name}", tool_attributes(tool.name, call.id, tool.risk)
        ) as traced:
            content, failed = await _invoke(tool, arguments, timeout)
            content = gate.clean(content)
            if traced.recording:
                traced.set_attribute("mamba.tool.status", "error" if failed else "ok")
                if failed:
                    traced.set_attribute("error.type", "tool_error")
                    traced.set_status("error", content.removeprefix("Error: ")[:500])
                if gate.content is not None:
                    traced.set_attribute("gen_ai.tool.call.arguments", gate.clean(call.arguments))
                    traced.set_attribute("gen_ai.tool.call.result", content)
        return index, content, failed

    tasks = [asyncio.ensure_future(timed(*item)) for item in runnable]
    try:
        for next_done in asyncio.as_completed(tasks):
            index, content, failed = await next_done
            contents[index] = content
            elapsed = int((time.monotonic() - started) * 1000)
            emit(ToolResult(calls[index].id, calls[index].name, content, failed, elapsed))
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    results = tuple(Message.tool_result(call, contents[i]) for i, call in enumerate(calls))
    return ToolOutcome(results, tuple(denials))
