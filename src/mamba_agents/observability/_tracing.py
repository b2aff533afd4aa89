"""Spans: what the engine did, when and for how long, nested as it happened.

The engine opens a span with `span()` around each agent run, model request, tool call, MCP
call, compaction and workflow step. Nothing is kept unless someone listens: a
`RequestTracer` whose trace was started in this context (a thread, or an asyncio task and
the tasks it starts), or a sink added with `add_span_sink` (the OpenTelemetry export).
With neither, `span()` costs two look-ups.

String attributes pass through `redact`, so a key that slipped into one is masked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from mamba_agents.errors import AgentError
from mamba_agents.observability._logging import redact

__all__ = [
    "RequestTracer",
    "Span",
    "SpanSink",
    "Trace",
    "add_span_sink",
    "remove_span_sink",
    "span",
]

log = logging.getLogger("mamba_agents.observability")

AttributeValue = str | bool | int | float | list[str] | list[int] | list[float] | list[bool]


class SpanSink(Protocol):
    """Receives every span as it starts and ends (an exporter)."""

    def on_start(self, span: Span) -> Any:
        """Called as `span` starts, in the context it runs in; what it returns is given
        back to `on_end`."""
        ...

    def on_end(self, span: Span, state: Any) -> None:
        """Called as `span` ends, in the same context, with what `on_start` returned."""
        ...


MAX_TEXT = 65_536
"""The most characters a text attribute keeps (a 10 MB file read stays out of a span)."""


def _text(value: str) -> str:
    if len(value) > MAX_TEXT:
        value = f"{value[:MAX_TEXT]}… [{len(value) - MAX_TEXT:,} more characters]"
    return redact(value)


def _attribute(value: Any) -> AttributeValue | None:
    """A value spans may hold: primitives and lists of them; text redacted (and cut past
    `MAX_TEXT`); anything else as such text in JSON."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return [_text(item) for item in value]
    if isinstance(value, Sequence) and all(isinstance(item, bool | int | float) for item in value):
        return list(value)
    return _text(json.dumps(value, default=str, ensure_ascii=False))


@dataclass
class Span:
    """One timed operation: its name, place in the trace (`parent_id`), start and end
    (seconds since the epoch), attributes, and status (`unset`, `ok` or `error`)."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str | None = None
    kind: str = "internal"
    start_time: float = field(default_factory=time.time)
    end_time: float | None = None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    status: str = "unset"
    status_message: str | None = None

    @property
    def recording(self) -> bool:
        """Whether anything keeps this span (False: setting attributes costs nothing)."""
        return True

    @property
    def duration_ms(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time) * 1000

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute; None leaves it unset."""
        cleaned = _attribute(value)
        if cleaned is not None:
            self.attributes[key] = cleaned

    def set_attributes(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            self.set_attribute(key, value)

    def set_status(self, status: str, message: str | None = None) -> None:
        """`ok` or `error` (with what went wrong)."""
        self.status = status
        self.status_message = redact(message) if message else None

    def record_error(self, error: BaseException | str) -> None:
        """Mark the span failed; `error.type` names the exception."""
        if isinstance(error, BaseException):
            kind = "cancelled" if not isinstance(error, Exception) else type(error).__name__
            self.set_attribute("error.type", kind)
            self.set_status("error", str(error) or kind)
        else:
            self.set_status("error", error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "kind": self.kind,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "duration_ms": self.duration_ms,
            "attributes": dict(self.attributes),
            "status": self.status,
            "status_message": self.status_message,
        }


class _UnrecordedSpan(Span):
    """What `span()` yields when nobody listens: every call does nothing."""

    @property
    def recording(self) -> bool:
        return False

    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def set_status(self, status: str, message: str | None = None) -> None:
        return None


_UNRECORDED = _UnrecordedSpan("", "", "")


@dataclass
class Trace:
    """The spans recorded between `start_trace()` and `end_trace()`, in start order."""

    trace_id: str
    start_time: float
    end_time: float | None = None
    spans: list[Span] = field(default_factory=list)

    @property
    def duration_ms(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time) * 1000

    @property
    def roots(self) -> list[Span]:
        """The spans without a parent in this trace."""
        ids = {s.span_id for s in self.spans}
        return [s for s in self.spans if s.parent_id not in ids]

    def find(self, name: str) -> list[Span]:
        """The spans named `name`, or whose name starts with `name` and a space
        (`find("chat")` finds `chat gpt-4o`)."""
        return [s for s in self.spans if s.name == name or s.name.startswith(name + " ")]

    def children(self, parent: Span) -> list[Span]:
        return [s for s in self.spans if s.parent_id == parent.span_id]

    def to_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "duration_ms": self.duration_ms,
            "spans": [s.to_dict() for s in self.spans],
        }


_current: ContextVar[Span | None] = ContextVar("mamba_current_span", default=None)
_tracer: ContextVar[RequestTracer | None] = ContextVar("mamba_request_tracer", default=None)
_sinks: list[SpanSink] = []


def add_span_sink(sink: SpanSink) -> None:
    """Send every span from now on, in every context, to `sink` as well."""
    if sink not in _sinks:
        _sinks.append(sink)


def remove_span_sink(sink: SpanSink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None, *, kind: str = "internal"):
    """Time the block as a span named `name`, a child of the span open around it.

    `kind` is `internal` or `client` (a request to another service). An exception leaving
    the block marks the span failed and goes on; a block that ends normally leaves the
    status as the block set it, else `ok`.
    """
    tracer = _tracer.get()
    if tracer is None and not _sinks:
        yield _UNRECORDED
        return
    parent = _current.get()
    trace_id = parent.trace_id if parent else tracer.trace_id if tracer else os.urandom(16).hex()
    opened = Span(
        name,
        trace_id=trace_id,
        span_id=os.urandom(8).hex(),
        parent_id=parent.span_id if parent else None,
        kind=kind,
    )
    if attributes:
        opened.set_attributes(attributes)
    listeners: list[SpanSink] = [*([tracer] if tracer else []), *_sinks]
    states = [_call(sink.on_start, opened) for sink in listeners]
    token = _current.set(opened)
    try:
        yield opened
    except BaseException as exc:
        opened.record_error(exc)
        raise
    finally:
        with contextlib.suppress(ValueError):  # closed from another context
            _current.reset(token)
        opened.end_time = time.time()
        if opened.status == "unset":
            opened.status = "ok"
        for sink, state in reversed(list(zip(listeners, states, strict=True))):
            _call(sink.on_end, opened, state)


def _call(method: Any, *args: Any) -> Any:
    """A sink that fails is logged, never allowed to break the traced work."""
    try:
        return method(*args)
    except Exception as exc:
        log.debug("span sink %r failed: %s", method, exc)
        return None


class RequestTracer:
    """Collects the spans of what runs in this context into a `Trace`::

        tracer = RequestTracer()
        tracer.start_trace()
        with tracer.start_span("agent.run") as span:
            span.set_attribute("prompt_length", len(prompt))
            result = await agent.run(prompt)  # its runs, requests and tools nest inside
        trace = tracer.end_trace()

    Needs no OpenTelemetry. Spans of work started in this thread or task after
    `start_trace()` (and of the tasks it starts) join the trace.
    """

    def __init__(self) -> None:
        self._trace: Trace | None = None
        self._token: Any = None

    @property
    def trace_id(self) -> str | None:
        """The id of the trace being recorded, if one is."""
        return self._trace.trace_id if self._trace is not None else None

    def start_trace(self, trace_id: str | None = None) -> str:
        """Start recording a new trace (a trace still open is dropped); its id."""
        self._trace = Trace(trace_id or os.urandom(16).hex(), start_time=time.time())
        self._token = _tracer.set(self)
        return self._trace.trace_id

    @contextlib.contextmanager
    def start_span(self, name: str, **attributes: Any) -> Iterator[Span]:
        """A span around the block (starting a trace first when none is)."""
        if self._trace is None:
            self.start_trace()
        token = _tracer.set(self) if _tracer.get() is not self else None
        try:
            with span(name, attributes) as opened:
                yield opened
        finally:
            if token is not None:
                with contextlib.suppress(ValueError):
                    _tracer.reset(token)

    def end_trace(self) -> Trace:
        """Stop recording; the finished trace."""
        if self._trace is None:
            raise AgentError("end_trace() called without start_trace()")
        trace, self._trace = self._trace, None
        with contextlib.suppress(ValueError):  # ended in another context than it started
            _tracer.reset(self._token)
        if _tracer.get() is self:
            _tracer.set(None)
        trace.end_time = time.time()
        return trace

    # -- SpanSink ---------------------------------------------------------------------------
    def on_start(self, span: Span) -> None:
        if self._trace is not None:
            self._trace.spans.append(span)

    def on_end(self, span: Span, state: Any) -> None:
        return None
