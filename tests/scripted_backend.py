"""A scripted model in the test process, for tests of the engine's own logic (limits, the
tool loop, usage, cost, interruption): no HTTP, no timing of a server thread.

`ScriptedBackend` implements the `Backend` interface of `mamba_agents.backends._base` and is
passed as `Agent(backend=...)`. It reads the same replies as the scripted HTTP server in
`model_server.py`, and with its script empty it answers the same way (echo, or the
`CALL <tool> <json>` protocol). Usage and errors go through the same functions the real
transports use (`usage_from_wire`, `error_for_status`), so the engine sees what it would
see from a provider.

A reply is a dict:
  {"text": "...", "chunks": 3}                 answer text, in this many TextChunks
  {"tool_calls": [{"name": "f", "arguments": {...}, "id": "c1"}]}   tool calls
  {"usage": {...}} / {"usage": None}           override or omit the (wire-format) usage
  {"status": 400, "message": "nope"}           raise the error a transport raises for it
  {"status": 400, "error": {...}}              ... for this error object (a provider's own shape)
  {"hang": True}                               never answer (until the request is cancelled)
Every request is kept in `requests`, as the JSON body the HTTP server would have received
(`messages`, `tools`, `temperature`, `max_tokens`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

from model_server import pieces, unscripted_reply, usage_for

from mamba_agents.backends import Completion, ModelRequest, TextChunk
from mamba_agents.backends._base import (
    error_for_status,
    parse_retry_after,
    reported_cost,
    usage_from_wire,
)
from mamba_agents.messages import Message, ToolCall


class ScriptedBackend:
    """`Agent(backend=ScriptedBackend(...))`; `add(...)` more replies at any time."""

    def __init__(self, *replies: dict[str, Any], model: str = "openai/gpt-4o"):
        self.model = model
        self.script: list[dict[str, Any]] = list(replies)
        self.requests: list[dict[str, Any]] = []
        self.closed = False

    def add(self, *replies: dict[str, Any]) -> None:
        self.script.extend(replies)

    async def complete(self, request: ModelRequest) -> AsyncIterator[TextChunk | Completion]:
        body = json.loads(json.dumps(dataclasses.asdict(request)))
        self.requests.append(body)
        reply = self.script.pop(0) if self.script else unscripted_reply(body["messages"])
        if reply.get("hang"):
            await asyncio.Event().wait()
        if reply.get("status"):
            raise error_for_status(
                reply["status"],
                {"error": reply.get("error")}
                if "error" in reply
                else {
                    "error": {"message": reply.get("message", f"injected HTTP {reply['status']}")}
                },
                model=self.model,
                key_variable=None,
                retry_after=parse_retry_after(reply.get("retry_after")),
            )
        text = reply.get("text") or ""
        if text:
            for piece in pieces(text, int(reply.get("chunks", 3))):
                yield TextChunk(piece)
        calls = tuple(
            ToolCall(
                call.get("id", f"call_{index}"),
                call["name"],
                arguments if isinstance(arguments, str) else json.dumps(arguments),
            )
            for index, call in enumerate(reply.get("tool_calls") or ())
            for arguments in [call.get("arguments", {})]
        )
        usage = reply["usage"] if "usage" in reply else usage_for(body, text)
        yield Completion(
            Message(role="assistant", content=text or (None if calls else ""), tool_calls=calls),
            usage_from_wire(usage),
            reported_cost(usage),
            "tool_calls" if calls else "stop",
        )

    async def aclose(self) -> None:
        self.closed = True
