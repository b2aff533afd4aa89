"""The typed events a run yields: one stream for every consumer.

`Event` is a discriminated union on `type`. `to_dict()` gives an event's stream-json line
(`mamba run -o stream-json` prints exactly that) and `event_from_dict()` reads such a line
back into the typed event: `event_from_dict(d).to_dict() == d` for every line, and
`event_from_dict(e.to_dict()) == e` for every event but a `RunResult`, whose in-memory
`new_messages` and `exception` are not part of its line.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from mamba_agents.messages import Message, Usage

__all__ = [
    "AssistantMessage",
    "ErrorEvent",
    "Event",
    "InitEvent",
    "RetryEvent",
    "RunResult",
    "RunStatus",
    "StopReason",
    "TextDelta",
    "ToolCallStarted",
    "ToolResult",
    "UsageEvent",
    "WorkflowStepEvent",
    "event_from_dict",
    "parse_event",
]

RunStatus = Literal["success", "error", "max_turns", "max_cost", "timeout", "interrupted"]
# Why the model stopped its last answer; None when it did not say.
StopReason = Literal["end_turn", "max_tokens", "tool_use", "content_filter"] | str | None

_NOT_SENT = {"sent": False}  # field metadata: kept in memory, not in the stream-json line


class _EventBase:
    """What every event does: its stream-json dict, and back."""

    type: str

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            if item.name != "type" and item.metadata.get("sent", True):
                data[item.name] = _jsonable(getattr(self, item.name))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """The event a `to_dict()` made; ValueError naming the field when one is missing
        or of the wrong kind (every field of the line is required)."""
        values = {}
        for item in dataclasses.fields(cls):  # type: ignore[arg-type]
            if item.name == "type" or not item.metadata.get("sent", True):
                continue
            wire_name = _WIRE_NAMES.get(item.name, item.name)
            if wire_name not in data:
                raise ValueError(f"{cls.type} event: missing field '{wire_name}'")
            kinds = _wire_kinds(cls)[item.name]
            values[item.name] = _typed(cls.type, wire_name, data[wire_name], kinds)
        return cls(**values)


_WIRE_NAMES = {"output": "result"}  # field -> its name in the result object


@functools.cache
def _wire_kinds(cls: type) -> dict[str, tuple[type, ...]]:
    """The JSON kinds each field of an event class may hold, from its annotations."""
    return {name: _kinds(hint) for name, hint in typing.get_type_hints(cls).items()}


def _kinds(hint: Any) -> tuple[type, ...]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return tuple(kind for arg in typing.get_args(hint) for kind in _kinds(arg))
    if origin is Literal:
        return tuple({type(value) for value in typing.get_args(hint)})
    if origin is not None:  # list[...], dict[...]
        return (origin,)
    if hint in (Usage, Message):
        return (dict,)
    return (int, float) if hint is float else (hint,)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Usage):
        return value.to_dict()
    if isinstance(value, Message):
        return value.to_record()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _typed(event: str, name: str, value: Any, kinds: tuple[type, ...]) -> Any:
    """A wire value checked against its kinds, and built into a Usage or Message."""
    is_bool = isinstance(value, bool)
    if not isinstance(value, kinds) or (is_bool and bool not in kinds):
        expected = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise ValueError(f"{event} event: '{name}' must be {expected}, got {value!r:.60}")
    try:
        if name == "usage":
            return Usage.from_dict(value)
        if name == "message" and isinstance(value, dict):  # an error event's is its text
            return Message.from_record(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{event} event: '{name}': {exc}") from None
    return value


@dataclass(frozen=True)
class InitEvent(_EventBase):
    """Start of a run: which session (None when it is not saved), model and tools, and
    each MCP server's status (`name`, `transport`, `status`, `tools`, `error`, ...)."""

    session_id: str | None
    model: str
    tools: list[str]
    cwd: str
    mcp_servers: list[dict[str, Any]] = field(default_factory=list)
    type: Literal["init"] = "init"


@dataclass(frozen=True)
class TextDelta(_EventBase):
    """A piece of the answer text as it streams."""

    text: str
    type: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True)
class AssistantMessage(_EventBase):
    """A complete assistant message (with its usage and cost)."""

    message: Message
    type: Literal["assistant_message"] = "assistant_message"


@dataclass(frozen=True)
class ToolCallStarted(_EventBase):
    """The loop is about to run a tool."""

    call_id: str
    name: str
    arguments: str
    type: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True)
class ToolResult(_EventBase):
    """A tool finished (or failed, or was refused: `is_error`)."""

    call_id: str
    name: str
    content: str
    is_error: bool
    duration_ms: int
    type: Literal["tool_result"] = "tool_result"


@dataclass(frozen=True)
class UsageEvent(_EventBase):
    """Usage and cost of one model request."""

    model: str
    usage: Usage
    cost_usd: float | None
    cost_source: str
    type: Literal["usage"] = "usage"


@dataclass(frozen=True)
class RetryEvent(_EventBase):
    """A model request failed and will be retried after `wait_seconds` (sent before the
    wait begins)."""

    attempt: int
    wait_seconds: float
    reason: str
    type: Literal["retry"] = "retry"


@dataclass(frozen=True)
class ErrorEvent(_EventBase):
    """The run failed; `kind` is the error class name."""

    kind: str
    message: str
    type: Literal["error"] = "error"


@dataclass(frozen=True)
class CompactionEvent(_EventBase):
    """The context was compacted before a model request: how many messages were
    folded or dropped, tokens before and after, what the summary request cost."""

    strategy: str
    removed_count: int
    tokens_before: int
    tokens_after: int
    cost_usd: float
    reached_target: bool
    type: Literal["compaction"] = "compaction"


@dataclass(frozen=True)
class WorkflowStepEvent(_EventBase):
    """A workflow step begins (`status` `start`) or ends (the agent turn's status): its
    number, the workflow's pattern, the agent that runs it and what the step is for."""

    step: int
    pattern: str
    agent: str
    status: str
    description: str = ""
    type: Literal["workflow_step"] = "workflow_step"


@dataclass(frozen=True)
class RunResult(_EventBase):
    """The last event of every run; its `to_dict()` is the result object of `mamba run
    -o json`.

    `status` is one of `success`, `error`, `max_turns`, `max_cost`, `timeout`,
    `interrupted`. `stop_reason` says why the model ended its last answer: `end_turn`,
    `max_tokens` (cut off at the output limit), `tool_use`, `content_filter`.
    `new_messages` are the messages this run added (complete tool-call/result pairs only);
    `session_id` and `state_id` name the saved state (None when the run was not saved).
    `exception` is what made a failed run fail.
    """

    status: str
    output: str
    new_messages: list[Message] = field(default_factory=list, metadata=_NOT_SENT)
    num_turns: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    cost_source: str = "estimated"
    duration_ms: int = 0
    permission_denials: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    stop_reason: StopReason = None
    session_id: str | None = None
    state_id: str | None = None
    model: str | None = None
    exception: BaseException | None = field(
        default=None, metadata=_NOT_SENT, repr=False, compare=False
    )
    type: Literal["result"] = "result"

    @property
    def success(self) -> bool:
        return self.status == "success"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "result",
            "status": self.status,
            "result": self.output,
            "session_id": self.session_id,
            "state_id": self.state_id,
            "model": self.model,
            "num_turns": self.num_turns,
            "usage": self.usage.to_dict(),
            "cost_usd": round(self.cost_usd, 8),
            "cost_source": self.cost_source,
            "stop_reason": self.stop_reason,
            "duration_ms": self.duration_ms,
            "permission_denials": self.permission_denials,
            "error": self.error,
        }


Event = (
    InitEvent
    | TextDelta
    | AssistantMessage
    | ToolCallStarted
    | ToolResult
    | UsageEvent
    | RetryEvent
    | ErrorEvent
    | CompactionEvent
    | WorkflowStepEvent
    | RunResult
)

_BY_TYPE: dict[str, type[_EventBase]] = {
    kind.type: kind  # type: ignore[misc]
    for kind in (
        InitEvent,
        TextDelta,
        AssistantMessage,
        ToolCallStarted,
        ToolResult,
        UsageEvent,
        RetryEvent,
        ErrorEvent,
        CompactionEvent,
        WorkflowStepEvent,
        RunResult,
    )
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """The typed event of a stream-json dict; ValueError for an unknown `type` or a
    missing field."""
    found = data.get("type") if isinstance(data, dict) else data
    kind = _BY_TYPE.get(found) if isinstance(found, str) else None
    if kind is None:
        raise ValueError(f"not a mamba event: type {found!r:.60}")
    return kind.from_dict(data)


def parse_event(line: str) -> Event:
    """The typed event of one `mamba run -o stream-json` line."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"not a JSON line: {exc}") from None
    return event_from_dict(data)
