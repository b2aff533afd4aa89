"""What every transport takes and gives: requests in, text chunks and one completion out."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol, TypeVar

from mamba_agents.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    ModelBackendError,
    ModelTimeoutError,
    RateLimitError,
)
from mamba_agents.messages import Message, ToolCall, Usage
from mamba_agents.observability import redact

log = logging.getLogger("mamba_agents.backends")
T = TypeVar("T")

MAX_TOOL_ARGUMENTS = 1_000_000
"""Default limit on one tool call's arguments, in characters (about 1 MB)."""


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
    """The finished assistant message of one request, with its usage as reported, and
    the model and response id the provider named."""

    message: Message
    usage: Usage | None
    reported_cost: float | None = None
    finish_reason: str | None = None
    response_model: str | None = None
    response_id: str | None = None


class Backend(Protocol):
    """A model transport. `complete` yields `TextChunk`s then exactly one `Completion`."""

    model: str

    def complete(self, request: ModelRequest) -> AsyncIterator[TextChunk | Completion]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class OversizedToolCall(ToolCall):
    """A call whose arguments were over the size limit and were dropped (sent on as `{}`).

    Running it is an error the model reads, so the call still gets its result.
    """

    received: int = 0
    limit: int = MAX_TOOL_ARGUMENTS

    def parsed_arguments(self) -> dict[str, Any]:
        raise ValueError(
            f"arguments over the limit of {self.limit:,} characters ({self.received:,} "
            "received); send large content in smaller parts"
        )


def capped_call(call: ToolCall, received: int, limit: int) -> ToolCall:
    """`call` itself, or an `OversizedToolCall` when `received` characters exceed `limit`."""
    if received <= limit:
        return call
    log.debug("tool call %s: %d characters of arguments dropped", call.name, received)
    return OversizedToolCall(call.id, call.name, "{}", received=received, limit=limit)


_COUNT_FIELDS = ("prompt_tokens", "completion_tokens")
_OPTIONAL_COUNT_FIELDS = ("cache_read_input_tokens", "cache_creation_input_tokens")


def _count(value: Any) -> int:
    """A token count: a non-negative whole number, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a number: {value!r}")
    if value < 0 or not math.isfinite(value) or value != int(value):
        raise ValueError(f"not a token count: {value!r}")
    return int(value)


def _usage_counts(data: Any) -> dict[str, int]:
    """The counts of an OpenAI-style `usage` object; ValueError when it is malformed."""
    if not isinstance(data, dict):
        raise ValueError(f"not an object: {type(data).__name__}")
    counts = {name: _count(data.get(name)) for name in _COUNT_FIELDS}
    for name in _OPTIONAL_COUNT_FIELDS:
        counts[name] = _count(data.get(name) or 0)
    details = data.get("prompt_tokens_details") or {}
    if not isinstance(details, dict):
        raise ValueError("prompt_tokens_details is not an object")
    counts["cached_tokens"] = _count(details.get("cached_tokens") or 0)
    return counts


def usage_from_wire(data: Any) -> Usage | None:
    """Usage from an OpenAI-style `usage` object; input excludes cached tokens.

    Cache reads come from `prompt_tokens_details.cached_tokens` (OpenAI) or
    `cache_read_input_tokens` (Anthropic via LiteLLM); cache writes from
    `cache_creation_input_tokens`. A missing or malformed object (string, negative or null
    counts, a list, ...) is None: the usage was not reported.
    """
    if not data:
        return None
    try:
        counts = _usage_counts(data)
    except ValueError as exc:
        log.debug("ignoring the provider's malformed usage (%s): %.200r", exc, data)
        return None
    cache_read = counts["cached_tokens"] or counts["cache_read_input_tokens"]
    cache_write = counts["cache_creation_input_tokens"]
    return Usage(
        input_tokens=max(counts["prompt_tokens"] - cache_read - cache_write, 0),
        output_tokens=counts["completion_tokens"],
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


def reported_cost(data: Any) -> float | None:
    """A cost the provider itself reported in `usage.cost` (OpenRouter and others)."""
    cost = data.get("cost") if isinstance(data, dict) else None
    if not isinstance(cost, int | float) or isinstance(cost, bool):
        return None
    return float(cost) if math.isfinite(cost) and cost >= 0 else None


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    received: int = 0


class StreamAssembler:
    """Builds one completion out of OpenAI-format stream chunks (tool-call deltas included).

    A call's arguments are kept up to `max_arguments` characters; past that they are dropped
    and the call becomes an `OversizedToolCall`.
    """

    def __init__(self, max_arguments: int = MAX_TOOL_ARGUMENTS) -> None:
        self.max_arguments = max_arguments
        self.text: list[str] = []
        self.calls: dict[int, _PartialCall] = {}
        self.usage_data: Any = None
        self.finish_reason: str | None = None
        self.response_model: str | None = None
        self.response_id: str | None = None

    def feed(self, chunk: dict[str, Any]) -> str:
        """Take one chunk; return its answer text (possibly empty)."""
        if chunk.get("error"):
            raise ModelBackendError(
                f"provider error in stream: {describe_body(chunk)}", retryable=True
            )
        if chunk.get("usage"):
            self.usage_data = chunk["usage"]
        self.response_model = _text_or(chunk.get("model"), self.response_model)
        self.response_id = _text_or(chunk.get("id"), self.response_id)
        text = ""
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text += delta["content"]
            for call in delta.get("tool_calls") or ():
                self._feed_call(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if text:
            self.text.append(text)
        return text

    def _feed_call(self, call: dict[str, Any]) -> None:
        partial = self.calls.setdefault(call.get("index", len(self.calls)), _PartialCall())
        partial.id = partial.id or call.get("id") or ""
        function = call.get("function") or {}
        partial.name = partial.name or function.get("name") or ""
        piece = function.get("arguments")
        if not piece:
            return
        partial.received += len(piece)
        if partial.received <= self.max_arguments:
            partial.arguments.append(piece)
        else:
            partial.arguments.clear()

    def completion(self) -> Completion:
        calls = tuple(
            capped_call(
                ToolCall(p.id or f"call_{i}", p.name, "".join(p.arguments) or "{}"),
                p.received,
                self.max_arguments,
            )
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
            self.response_model,
            self.response_id,
        )


def completion_from_response(
    data: dict[str, Any], max_arguments: int = MAX_TOOL_ARGUMENTS
) -> Completion:
    """A completion from a non-streaming chat-completions response body."""
    choices = data.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        raise ModelBackendError(f"response has no choices: {one_line(json.dumps(data))}")
    wire = choices[0].get("message") or {}
    calls = (ToolCall.from_wire(c) for c in wire.get("tool_calls") or ())
    message = Message(
        role="assistant",
        content=wire.get("content"),
        tool_calls=tuple(capped_call(c, len(c.arguments), max_arguments) for c in calls),
    )
    usage = data.get("usage")
    return Completion(
        message,
        usage_from_wire(usage),
        reported_cost(usage),
        choices[0].get("finish_reason"),
        _text_or(data.get("model"), None),
        _text_or(data.get("id"), None),
    )


def _text_or(value: Any, default: str | None) -> str | None:
    """`value` when it is non-empty text (a provider's field), else `default`."""
    return value if isinstance(value, str) and value else default


class Deadline:
    """An optional limit on a whole request, applied to each wait inside it.

    Waits go through `wait`, never across a `yield`, so the limit cancels only the request.
    """

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self._at = None if seconds is None else asyncio.get_running_loop().time() + seconds

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """`await awaitable`; TimeoutError once the deadline has passed."""
        async with asyncio.timeout_at(self._at):
            return await awaitable

    def passed(self) -> bool:
        return self._at is not None and asyncio.get_running_loop().time() >= self._at


def timeout_error(model: str, deadline: Deadline, message: str) -> ModelTimeoutError:
    """The error for a timed-out request: the total limit's when that is what ran out."""
    if deadline.passed():
        return ModelTimeoutError(
            f"{model}: no complete answer within the total limit of {deadline.seconds:g} s"
        )
    return ModelTimeoutError(message)


_BEARER = re.compile(r"(?i)\b(bearer\s+)[\w\-.~+/=*]+")
_MIN_SECRET = 6


def redact_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with the given secret values, bearer tokens and key-like strings masked."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            text = text.replace(secret, "****")
    return redact(_BEARER.sub(r"\1****", text))


def redacted(exc: ModelBackendError, secrets: Iterable[str | None]) -> ModelBackendError:
    """`exc` with secrets masked in its message (see `redact_secrets`)."""
    exc.args = (redact_secrets(str(exc), secrets),)
    return exc


_HTML = re.compile(r"(?i)<(?:!doctype\s+html|html|head|body|title)\b")
_TITLE = re.compile(r"(?is)<(title|h1)\b[^>]*>(.*?)</\1\s*>")
_TAG = re.compile(r"<[^>]*>")
_SHORT = 200


def one_line(text: str, limit: int = _SHORT) -> str:
    """`text` on one line of at most `limit` characters, control characters removed."""
    flat = " ".join(text[: limit * 4].split())
    flat = "".join(c for c in flat if c.isprintable())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe_body(body: Any) -> str:
    """One short line saying what a provider's body holds: its error message, or which HTML
    page it is."""
    text = _error_text(body).partition("Traceback (most recent call last)")[0]
    if not _HTML.search(text):
        return one_line(text)
    title = _TITLE.search(text)
    if not title:
        return "an HTML page"
    return f"HTML page {one_line(html.unescape(_TAG.sub('', title.group(2))), 100)!r}"


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    return str(body)


def _status_text(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


_CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_CONTEXT_WORDS = re.compile(
    r"maximum context length|context[_ ]length[_ ]exceeded|exceeds? the (?:available )?context"
    r"|context window|prompt is too long|too many tokens|exceed_context_size",
    re.I,
)
_WINDOW = re.compile(r"(?:maximum context length is|context (?:size|window) (?:is|of)) (\d+)", re.I)
_PROMPT = re.compile(r"(?:resulted in|requested|prompt (?:is|has)|prompt of) (\d+) tokens", re.I)


def context_exceeded(status: int, body: Any, *, model: str) -> ContextWindowExceededError | None:
    """The error for a provider's "the prompt does not fit the window" answer (OpenAI's
    `context_length_exceeded`, llama.cpp's `exceed_context_size_error`, or the same words in
    another provider's message), with the sizes the provider gave; None for other errors."""
    if status not in (400, 413):
        return None
    error = body.get("error", body) if isinstance(body, dict) else None
    details = error if isinstance(error, dict) else {}
    text = _error_text(body)
    codes = {str(details.get("code")), str(details.get("type"))}
    if not (codes & _CONTEXT_CODES or _CONTEXT_WORDS.search(text)):
        return None
    window = _whole(details.get("n_ctx")) or _first_number(_WINDOW, text)
    prompt = _whole(details.get("n_prompt_tokens")) or _first_number(_PROMPT, text)
    sizes = []
    if prompt:
        sizes.append(f"the request takes {prompt:,} tokens")
    if window:
        sizes.append(f"the window holds {window:,}")
    said = f" ({'; '.join(sizes)})" if sizes else ""
    return ContextWindowExceededError(
        f"the context is too long for {model}{said}: {describe_body(body)}",
        status_code=status,
        prompt_tokens=prompt,
        window=window,
    )


def _whole(value: Any) -> int | None:
    return value if type(value) is int and value > 0 else None


def _first_number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return int(match.group(1)) if match else None


def error_for_status(
    status: int,
    body: Any,
    *,
    model: str,
    key_variable: str | None,
    retry_after: float | None = None,
) -> ModelBackendError:
    """The error to raise for an HTTP error status from a provider (one line)."""
    detail = describe_body(body)
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
    too_long = context_exceeded(status, body, model=model)
    if too_long is not None:
        return too_long
    retryable = status >= 500 or status == 408
    return ModelBackendError(
        f"{_status_text(status)} from {model}: {detail}", status_code=status, retryable=retryable
    )


def unexpected_content(status: int, content_type: str, expected: str, body: Any) -> str:
    """Says what came back instead of the `expected` kind of body."""
    return (
        f"expected {expected}, got {content_type} ({_status_text(status)}): {describe_body(body)}"
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number of seconds; HTTP dates are ignored)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None
