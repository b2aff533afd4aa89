"""The checks of a session document (`_records`) made in one pass by msgspec, for readers of
thousands of files (the usage index).

msgspec decodes the JSON and checks every field's type and range as it goes; what a type
cannot say (times, ids that must exist, parent pointers) is checked here after it. A document
passes only if `check_document` passes it too; anything else, whatever the reason, is left to
`check_document`, which has the last word and names what is wrong. Fields nobody declared are
dropped from what this returns, so it serves readers that need only known fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Required, TypedDict

import msgspec

from mamba_agents.store._records import (
    MAX_TOKENS,
    check_ids,
    check_parents,
    check_receipt,
    check_tool_call,
    is_session_id,
)

_Text = str | None
_Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)]
_Amount = Annotated[float, msgspec.Meta(ge=0)]  # JSON has no infinity, and no NaN


class _Message(TypedDict, total=False):
    id: Required[str]
    created_at: Required[str]
    role: Required[Literal["system", "user", "assistant", "tool"]]
    content: str | list[dict[str, Any]] | None
    tool_calls: list[Any] | None
    tool_call_id: _Text
    name: _Text
    model: _Text
    usage: dict[str, _Count | None] | None  # (any other value: left to the full check)
    cost_usd: _Amount | None
    cost_source: _Text
    duration_ms: _Amount | None
    status: _Text
    full_content: _Text


class _State(TypedDict, total=False):
    id: Required[str]
    created_at: Required[str]
    parent_id: _Text
    kind: Literal["turn", "fork", "compaction", "workflow"]  # null is not "turn"
    added: list[str] | None
    context: list[str] | None
    system: _Text
    model: _Text
    status: _Text
    receipt: dict[str, Any] | None
    user: _Text


class _Origin(TypedDict):
    session_id: str
    state_id: str


class _Document(TypedDict, total=False):
    format: Required[Literal["mamba.session"]]
    version: Required[Literal[1]]
    id: Required[str]
    created_at: Required[str]
    messages: Required[list[_Message]]
    states: Required[list[_State]]
    title: _Text
    model: _Text
    cwd: _Text
    head: _Text
    updated_at: _Text
    forked_from: _Origin | None


_DECODER = msgspec.json.Decoder(_Document)
_from_iso = datetime.fromisoformat


def quick_document(
    text: str, file_id: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
    """The document of `<file_id>.json` and its message records by id when it passes every
    check of `check_document`; None when it may not (then ask `check_document`)."""
    try:
        data: dict[str, Any] = _DECODER.decode(text)
        return data, _checked_links(data, file_id)
    except (msgspec.DecodeError, ValueError, TypeError):
        return None


def _checked_links(data: dict[str, Any], file_id: str) -> dict[str, dict[str, Any]]:
    """The checks the types left: the id, the times, unique ids that exist, parents."""
    if not is_session_id(data["id"]) or data["id"] != file_id:
        raise ValueError
    _from_iso(data["created_at"])
    if data.get("updated_at") is not None:
        _from_iso(data["updated_at"])
    messages: dict[str, dict[str, Any]] = {}
    for message in data["messages"]:
        _from_iso(message["created_at"])
        for call in message.get("tool_calls") or ():
            check_tool_call(call, "")
        messages[message["id"]] = message
    if len(messages) != len(data["messages"]):
        raise ValueError  # an id twice
    parents: dict[str, str | None] = {}
    for state in data["states"]:
        _from_iso(state["created_at"])
        check_ids(state, "", "added", messages)
        check_ids(state, "", "context", messages)
        if state.get("receipt") is not None:
            check_receipt(state["receipt"], "", messages)
        parents[state["id"]] = state.get("parent_id")
    if len(parents) != len(data["states"]):
        raise ValueError
    check_parents(parents)
    if data.get("head") is not None and data["head"] not in parents:
        raise ValueError
    return messages
