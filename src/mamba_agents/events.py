"""The typed events the agent loop yields; every consumer reads the same stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from mamba_agents.messages import Message, Usage

__all__ = [
    "AssistantMessage",
    "ErrorEvent",
    "Event",
    "InitEvent",
    "RetryEvent",
    "RunResult",
    "TextDelta",
    "ToolCallStarted",
    "ToolResult",
    "UsageEvent",
]


class Event:
    """Base of all events; `to_dict()` gives the stream-json line."""

    type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        data = {"type": self.type}
        data.update({k: _jsonable(v) for k, v in self.__dict__.items()})
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, Usage):
        return value.to_dict()
    if isinstance(value, Message):
        return value.to_record()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass
class InitEvent(Event):
    """Start of a run: which session, model and tools."""

    type: ClassVar[str] = "init"
    session_id: str | None
    model: str
    tools: list[str]
    cwd: str


@dataclass
class TextDelta(Event):
    """A piece of the answer text as it streams."""

    type: ClassVar[str] = "text_delta"
    text: str


@dataclass
class AssistantMessage(Event):
    """A complete assistant message (with its usage and cost)."""

    type: ClassVar[str] = "assistant_message"
    message: Message


@dataclass
class ToolCallStarted(Event):
    """The loop is about to run a tool."""

    type: ClassVar[str] = "tool_call"
    call_id: str
    name: str
    arguments: str


@dataclass
class ToolResult(Event):
    """A tool finished (or failed: `is_error`)."""

    type: ClassVar[str] = "tool_result"
    call_id: str
    name: str
    content: str
    is_error: bool
    duration_ms: int


@dataclass
class UsageEvent(Event):
    """Usage and cost of one model request."""

    type: ClassVar[str] = "usage"
    model: str
    usage: Usage
    cost_usd: float | None
    cost_source: str


@dataclass
class RetryEvent(Event):
    """A model request failed and will be retried after `wait_seconds`."""

    type: ClassVar[str] = "retry"
    attempt: int
    wait_seconds: float
    reason: str


@dataclass
class ErrorEvent(Event):
    """The run failed; `kind` is the error class name."""

    type: ClassVar[str] = "error"
    kind: str
    message: str


@dataclass
class RunResult(Event):
    """The last event of every run.

    `status` is one of `success`, `error`, `max_turns`, `max_cost`, `timeout`, `interrupted`.
    `new_messages` are the messages this run added (complete tool-call/result pairs only).
    """

    type: ClassVar[str] = "result"
    status: str
    output: str
    new_messages: list[Message] = field(default_factory=list)
    num_turns: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    cost_source: str = "estimated"
    duration_ms: int = 0
    permission_denials: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def success(self) -> bool:
        return self.status == "success"
