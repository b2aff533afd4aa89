"""The one message shape: OpenAI chat wire format, held in frozen dataclasses."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

__all__ = ["Message", "ToolCall", "Usage", "content_text", "new_id", "utc_now"]


def new_id() -> str:
    """A fresh UUID4 as a string."""
    return str(uuid.uuid4())


def content_text(content: object) -> str:
    """A message content's text: the string, or the text parts of a list joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def utc_now() -> str:
    """The current time as a UTC ISO 8601 string with millisecond precision."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one model request (or a sum of several).

    The four counts do not overlap: `input_tokens` are the prompt tokens neither read from
    nor written to the provider's cache, so the prompt the provider saw is
    `prompt_tokens` (input and both cache counts) and `total_tokens` is all four.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        """Every token of the prompt, cached or not."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def completion_tokens(self) -> int:
        return self.output_tokens

    @property
    def total_tokens(self) -> int:
        """Prompt and output tokens, cache included."""
        return self.prompt_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Usage:
        data = data or {}
        return cls(
            int(data.get("input_tokens") or 0),
            int(data.get("output_tokens") or 0),
            int(data.get("cache_read_tokens") or 0),
            int(data.get("cache_write_tokens") or 0),
        )


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call requested by the model; `arguments` is the raw JSON text."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict; raises ValueError when they are not a JSON object."""
        try:
            value = json.loads(self.arguments or "{}")
        except RecursionError:
            raise ValueError("tool arguments are nested too deeply") from None
        if not isinstance(value, dict):
            raise ValueError("tool arguments must be a JSON object")
        return value

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ToolCall:
        function = data.get("function") or {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments or {})
        return cls(id=data.get("id") or "", name=function.get("name") or "", arguments=arguments)


_WIRE_FIELDS = ("role", "content", "tool_calls", "tool_call_id", "name")


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message; wire fields plus the metadata a session file keeps.

    `content` is a string or a list of content parts, as in the OpenAI protocol.
    Assistant messages carry the model, usage, cost and duration of the request that made them.
    A tool result cut to fit the context keeps the whole text in `full_content`.
    """

    role: str
    content: str | list[dict[str, Any]] | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    id: str = field(default_factory=new_id)
    created_at: str = field(default_factory=utc_now)
    model: str | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    cost_source: str | None = None
    duration_ms: int | None = None
    status: str | None = None
    full_content: str | None = None

    @property
    def text(self) -> str:
        """The textual content (text parts joined when content is a list)."""
        return content_text(self.content)

    def with_updates(self, **changes: Any) -> Message:
        """A copy with some fields changed (the original stays as it was)."""
        return replace(self, **changes)

    def to_wire(self) -> dict[str, Any]:
        """The dict sent to a provider: only OpenAI wire fields."""
        wire: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            wire["tool_calls"] = [c.to_wire() for c in self.tool_calls]
        if self.tool_call_id is not None:
            wire["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            wire["name"] = self.name
        return wire

    def to_record(self) -> dict[str, Any]:
        """The dict stored in a session file: id, time, wire fields, then request metadata."""
        record: dict[str, Any] = {"id": self.id, "created_at": self.created_at}
        record.update(self.to_wire())
        if self.role == "assistant":
            record["model"] = self.model
            record["usage"] = self.usage.to_dict() if self.usage else None
            record["cost_usd"] = self.cost_usd
            record["cost_source"] = self.cost_source
            record["duration_ms"] = self.duration_ms
        if self.status is not None:
            record["status"] = self.status
        if self.full_content is not None:
            record["full_content"] = self.full_content
        return record

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Message:
        """Inverse of `to_record` (also accepts a plain wire dict)."""
        if data.get("role") not in ("system", "user", "assistant", "tool"):
            raise ValueError(f"invalid message role: {data.get('role')!r}")
        return cls(
            role=data["role"],
            content=data.get("content"),
            tool_calls=tuple(ToolCall.from_wire(c) for c in data.get("tool_calls") or ()),
            tool_call_id=data.get("tool_call_id"),
            name=data.get("name"),
            id=data.get("id") or new_id(),
            created_at=data.get("created_at") or utc_now(),
            model=data.get("model"),
            usage=Usage.from_dict(data["usage"]) if data.get("usage") else None,
            cost_usd=data.get("cost_usd"),
            cost_source=data.get("cost_source"),
            duration_ms=data.get("duration_ms"),
            status=data.get("status"),
            full_content=data.get("full_content"),
        )

    @classmethod
    def user(cls, content: str | list[dict[str, Any]]) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def tool_result(cls, call: ToolCall, content: str) -> Message:
        return cls(role="tool", content=content, tool_call_id=call.id, name=call.name)
