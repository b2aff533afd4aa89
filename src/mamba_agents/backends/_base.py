"""What every transport takes and gives: requests in, text chunks and one completion out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from mamba_agents.errors import AuthenticationError, ModelBackendError, RateLimitError
from mamba_agents.messages import Message, ToolCall, Usage


@dataclass(frozen=True)
class ModelRequest:
    """One chat-completions request in wire format."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True)
class TextChunk:
    """A piece of streamed answer text."""

    text: str


@dataclass(frozen=True)
class Completion:
    """The finished assistant message of one request, with its usage as reported."""

    message: Message
    usage: Usage | None
    reported_cost: float | None = None
    finish_reason: str | None = None


class Backend(Protocol):
    """A model transport. `complete` yields `TextChunk`s then exactly one `Completion`."""

    model: str

    def complete(self, request: ModelRequest) -> AsyncIterator[TextChunk | Completion]: ...

    async def aclose(self) -> None: ...


def usage_from_wire(data: dict[str, Any] | None) -> Usage | None:
    """Usage from an OpenAI-style `usage` object; input excludes cached tokens.

    Cache reads come from `prompt_tokens_details.cached_tokens` (OpenAI) or
    `cache_read_input_tokens` (Anthropic via LiteLLM); cache writes from
    `cache_creation_input_tokens`.
    """
    if not data:
        return None
    prompt = int(data.get("prompt_tokens") or 0)
    details = data.get("prompt_tokens_details") or {}
    cache_read = int(details.get("cached_tokens") or data.get("cache_read_input_tokens") or 0)
    cache_write = int(data.get("cache_creation_input_tokens") or 0)
    return Usage(
        input_tokens=max(prompt - cache_read - cache_write, 0),
        output_tokens=int(data.get("completion_tokens") or 0),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


def reported_cost(data: dict[str, Any] | None) -> float | None:
    """A cost the provider itself reported in `usage.cost` (OpenRouter and others)."""
    if data and isinstance(data.get("cost"), int | float) and not isinstance(data["cost"], bool):
        return float(data["cost"])
    return None


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class StreamAssembler:
    """Builds one completion out of OpenAI-format stream chunks (tool-call deltas included)."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, _PartialCall] = {}
        self.usage_data: dict[str, Any] | None = None
        self.finish_reason: str | None = None

    def feed(self, chunk: dict[str, Any]) -> str:
        """Take one chunk; return its answer text (possibly empty)."""
        if chunk.get("error"):
            raise ModelBackendError(
                f"provider error in stream: {_error_text(chunk)}", retryable=True
            )
        if chunk.get("usage"):
            self.usage_data = chunk["usage"]
        text = ""
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text += delta["content"]
            for call in delta.get("tool_calls") or ():
                partial = self.calls.setdefault(call.get("index", len(self.calls)), _PartialCall())
                partial.id = partial.id or call.get("id") or ""
                function = call.get("function") or {}
                partial.name = partial.name or function.get("name") or ""
                if function.get("arguments"):
                    partial.arguments.append(function["arguments"])
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if text:
            self.text.append(text)
        return text

    def completion(self) -> Completion:
        calls = tuple(
            ToolCall(id=p.id or f"call_{i}", name=p.name, arguments="".join(p.arguments) or "{}")
            for i, p in sorted(self.calls.items())
        )
        content = "".join(self.text)
        message = Message(
            role="assistant", content=content if content or not calls else None, tool_calls=calls
        )
        return Completion(
            message,
            usage_from_wire(self.usage_data),
            reported_cost(self.usage_data),
            self.finish_reason,
        )


def completion_from_response(data: dict[str, Any]) -> Completion:
    """A completion from a non-streaming chat-completions response body."""
    choices = data.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        raise ModelBackendError(f"response has no choices: {json.dumps(data)[:200]}")
    wire = choices[0].get("message") or {}
    message = Message(
        role="assistant",
        content=wire.get("content"),
        tool_calls=tuple(ToolCall.from_wire(c) for c in wire.get("tool_calls") or ()),
    )
    usage = data.get("usage")
    return Completion(
        message, usage_from_wire(usage), reported_cost(usage), choices[0].get("finish_reason")
    )


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    return str(body)


def error_for_status(
    status: int,
    body: Any,
    *,
    model: str,
    key_variable: str | None,
    retry_after: float | None = None,
) -> ModelBackendError:
    """The error to raise for an HTTP error status from a provider."""
    detail = _error_text(body)[:300]
    if status in (401, 403):
        hint = (
            f"; set {key_variable} or MAMBA_MODEL_BACKEND__API_KEY"
            if key_variable
            else "; set MAMBA_MODEL_BACKEND__API_KEY"
        )
        return AuthenticationError(
            f"authentication failed for {model} (HTTP {status}): {detail}{hint}", status_code=status
        )
    if status == 429:
        return RateLimitError(
            f"rate limited by the provider of {model}: {detail}", retry_after=retry_after
        )
    retryable = status >= 500 or status == 408
    return ModelBackendError(
        f"{model}: HTTP {status}: {detail}", status_code=status, retryable=retryable
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number of seconds; HTTP dates are ignored)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None
