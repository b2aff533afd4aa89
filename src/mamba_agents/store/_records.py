"""Checks of a session document, run on load before anything reads its fields.

Every check raises ValueError naming the field (`messages[3].usage.input_tokens: ...`); the
caller reports the file as damaged. A document that passes can be walked safely: ids are
unique, every id a state names exists, and parent pointers end at a root (no cycles).
Each record's field types are checked in one pass over a table, so loading stays fast.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NoReturn

ROLES = frozenset(("system", "user", "assistant", "tool"))
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
_SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_NONE = type(None)
_TEXT = frozenset((str, _NONE))
# The most tokens one request can be said to use: more is damage (and would overflow sums).
MAX_TOKENS = 10**12
_NUMBER = frozenset((int, float, _NONE))
_NAMES = {str: "a string", list: "a list", dict: "an object", int: "a number", float: "a number"}


def is_session_id(value: object) -> bool:
    """Whether `value` is a session id: a UUID in its canonical lower-case form."""
    return isinstance(value, str) and _SESSION_ID.fullmatch(value) is not None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fail(where: str, expected: str, value: object) -> NoReturn:
    raise ValueError(f"{where}: expected {expected}, got {_shown(value)}")


def _path(where: str, key: str) -> str:
    """A field's name in messages: `messages[3].usage`. Built only when a check fails."""
    return f"{where}.{key}" if where else key


class Fields:
    """The allowed types of each field of one kind of record (`None` is a missing field).
    The layouts (keys and value types) that passed are remembered: a file's records share
    a handful of layouts, so most records are checked with one set lookup."""

    MAX_LAYOUTS = 64

    def __init__(self, types: dict[str, frozenset[type]]):
        self.types = types
        self._passed: set[tuple[Any, ...]] = set()

    def check(self, record: object, where: str) -> dict[str, Any]:
        """`record` as a dict whose fields have their allowed types."""
        if type(record) is not dict:
            _fail(where, "an object", record)
        layout = (*record, *map(type, record.values()))
        if layout in self._passed:
            return record
        for key, kinds in self.types.items():
            value = record.get(key)
            if type(value) not in kinds:
                names = " or ".join(sorted({_NAMES.get(kind, "null") for kind in kinds}))
                _fail(_path(where, key), names, value)
        if len(self._passed) < self.MAX_LAYOUTS:
            self._passed.add(layout)
        return record


# Allowed types of each field; `None` in a record is the same as a missing field.
HEADER = Fields(
    {
        "title": _TEXT,
        "model": _TEXT,
        "cwd": _TEXT,
        "head": _TEXT,
        "created_at": frozenset((str,)),
        "updated_at": _TEXT,
        "forked_from": frozenset((dict, _NONE)),
        "messages": frozenset((list,)),
        "states": frozenset((list,)),
    }
)
MESSAGE = Fields(
    {
        "id": frozenset((str,)),
        "created_at": frozenset((str,)),
        "role": frozenset((str,)),
        "content": frozenset((str, list, _NONE)),
        "tool_calls": frozenset((list, _NONE)),
        "tool_call_id": _TEXT,
        "name": _TEXT,
        "model": _TEXT,
        "usage": frozenset((dict, _NONE)),
        "cost_usd": _NUMBER,
        "cost_source": _TEXT,
        "duration_ms": _NUMBER,
        "status": _TEXT,
        "full_content": _TEXT,
    }
)
STATE = Fields(
    {
        "id": frozenset((str,)),
        "parent_id": _TEXT,
        "created_at": frozenset((str,)),
        "kind": _TEXT,
        "added": frozenset((list, _NONE)),
        "context": frozenset((list, _NONE)),
        "system": _TEXT,
        "model": _TEXT,
        "status": _TEXT,
        "receipt": frozenset((dict, _NONE)),
        "user": _TEXT,
    }
)


def _timestamp(record: Mapping[str, Any], where: str, key: str) -> None:
    value = record.get(key)
    if value is not None:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            _fail(_path(where, key), "an ISO 8601 time", value)


def _amount(record: Mapping[str, Any], where: str, key: str) -> None:
    value = record.get(key)
    if value is not None and (type(value) not in (int, float) or not 0 <= value < math.inf):
        _fail(_path(where, key), "a number >= 0", value)


def check_ids(record: Mapping[str, Any], where: str, key: str, known: Mapping[str, Any]) -> None:
    """The field `key` of `record`, if any, lists ids that are all in `known`."""
    for item in record.get(key) or ():
        if type(item) is not str or item not in known:
            _fail(_path(where, key), "ids of messages in this file", item)


def check_header(data: Mapping[str, Any], file_id: str) -> None:
    """The top-level fields; the `id` must be the file's own name (`<id>.json`)."""
    session_id = data.get("id")
    if not is_session_id(session_id) or session_id != file_id:
        _fail("id", f"the file's name {file_id!r}", session_id)
    HEADER.check(data, "")
    _timestamp(data, "", "created_at")
    _timestamp(data, "", "updated_at")
    origin = data.get("forked_from")
    if origin is not None and not (
        type(origin.get("session_id")) is str and type(origin.get("state_id")) is str
    ):
        _fail("forked_from", "null or {session_id, state_id}", origin)


def check_message(record: object, where: str) -> dict[str, Any]:
    """One message record as a session file holds it."""
    message = MESSAGE.check(record, where)
    _timestamp(message, where, "created_at")
    if message["role"] not in ROLES:
        _fail(_path(where, "role"), "system, user, assistant or tool", message["role"])
    content = message.get("content")
    if type(content) is list:
        for index, part in enumerate(content):
            if type(part) is not dict:
                _fail(_path(where, f"content[{index}]"), "an object", part)
    for index, call in enumerate(message.get("tool_calls") or ()):
        check_tool_call(call, _path(where, f"tool_calls[{index}]"))
    usage = message.get("usage")
    if usage is not None:
        for key in USAGE_KEYS:
            count = usage.get(key)
            if count is not None and (type(count) is not int or not 0 <= count <= MAX_TOKENS):
                _fail(_path(where, f"usage.{key}"), f"a whole number from 0 to {MAX_TOKENS}", count)
    _amount(message, where, "cost_usd")
    _amount(message, where, "duration_ms")
    return message


def check_tool_call(call: object, where: str) -> None:
    """A tool call in the wire shape: `{"id", "function": {"name", "arguments"}}`."""
    if type(call) is not dict or type(call.get("id")) not in _TEXT:
        _fail(where, "an object with a string id", call)
    function = call.get("function")
    if type(function) is not dict or type(function.get("name")) not in _TEXT:
        _fail(where + ".function", "an object with a string name", function)
    if type(function.get("arguments")) not in (str, dict, _NONE):
        _fail(where + ".function.arguments", "a string", function.get("arguments"))


def check_state(record: object, where: str, messages: Mapping[str, Any]) -> dict[str, Any]:
    """One state record; the messages it names must be in `messages`."""
    state = STATE.check(record, where)
    _timestamp(state, where, "created_at")
    check_ids(state, where, "added", messages)
    check_ids(state, where, "context", messages)
    if state.get("kind", "turn") not in STATE_KINDS:
        _fail(_path(where, "kind"), " or ".join(STATE_KINDS), state.get("kind"))
    receipt = state.get("receipt")
    if receipt is not None:
        check_receipt(receipt, _path(where, "receipt"), messages)
    return state


STATE_KINDS = ("turn", "fork", "compaction", "workflow")
_RECEIPT_COUNTS = ("removed_count", "tokens_before", "tokens_after", "target_tokens", "step",
                   "total_steps", "duration_ms")  # fmt: skip


def check_receipt(receipt: Mapping[str, Any], where: str, messages: Mapping[str, Any]) -> None:
    """A compaction's or a workflow step's receipt: counts, costs and message ids."""
    for key in _RECEIPT_COUNTS:
        count = receipt.get(key)
        if count is not None and (type(count) is not int or not 0 <= count <= MAX_TOKENS):
            _fail(_path(where, key), f"a whole number from 0 to {MAX_TOKENS}", count)
    _amount(receipt, where, "cost_usd")
    for key in ("removed_ids", "request_ids"):
        if type(receipt.get(key, [])) is not list:
            _fail(_path(where, key), "a list of message ids", receipt.get(key))
    check_ids(receipt, where, "request_ids", messages)
    for key in ("note", "strategy", "error", "status", "agent", "workflow"):
        if type(receipt.get(key)) not in _TEXT:
            _fail(_path(where, key), "text", receipt.get(key))


def check_parents(parents: dict[str, str | None]) -> None:
    """Every parent exists and every chain of parents ends at a root."""
    finished: set[str] = set()
    for start in parents:
        chain: set[str] = set()
        node: str | None = start
        while node is not None and node not in finished:
            if node in chain:
                raise ValueError(f"states: parent pointers form a cycle through {node}")
            if node not in parents:
                raise ValueError(f"states: parent {node} is not a state in this file")
            chain.add(node)
            node = parents[node]
        finished |= chain


def check_document(data: Mapping[str, Any], file_id: str) -> dict[str, dict[str, Any]]:
    """Check a whole session document (read from `<file_id>.json`); returns its message
    records by id."""
    check_header(data, file_id)
    messages: dict[str, dict[str, Any]] = {}
    for index, record in enumerate(data["messages"]):
        message = check_message(record, f"messages[{index}]")
        if message["id"] in messages:
            raise ValueError(f"messages[{index}].id: {message['id']} appears twice")
        messages[message["id"]] = message
    parents: dict[str, str | None] = {}
    for index, record in enumerate(data["states"]):
        state = check_state(record, f"states[{index}]", messages)
        if state["id"] in parents:
            raise ValueError(f"states[{index}].id: {state['id']} appears twice")
        parents[state["id"]] = state.get("parent_id")
    check_parents(parents)
    head = data.get("head")
    if head is not None and head not in parents:
        raise ValueError(f"head: {head} is not a state in this file")
    return messages
