"""The one-pass check of session files the usage index reads them with passes a document
only when the full check does, and then gives the index the very same rows: tried on a
document with every kind of record, and on hundreds of damaged variants of it."""

from __future__ import annotations

import copy
import json
from typing import Any

from mamba_agents.errors import SessionError
from mamba_agents.store._index_rows import _record_rows, _record_texts
from mamba_agents.store._quick_check import quick_document
from mamba_agents.store._records import HEADER, MESSAGE, STATE, check_document
from mamba_agents.store._session import parse_document

SESSION = "0b0c7e0a-1d2e-4f50-9a6b-7c8d9e0f1a2b"
WHEN = "2026-11-21T10:00:00.000Z"


def document() -> dict[str, Any]:
    """A session with a prompt, a tool call and its result, an answer, a compaction."""
    return {
        "format": "mamba.session",
        "version": 1,
        "id": SESSION,
        "title": "a title",
        "created_at": WHEN,
        "updated_at": WHEN,
        "model": "openai/gpt-4o",
        "cwd": "/w",
        "forked_from": {"session_id": "s", "state_id": "t"},
        "head": "s2",
        "messages": [
            {"id": "m1", "created_at": WHEN, "role": "user", "content": "hello"},
            {
                "id": "m2",
                "created_at": WHEN,
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
                "model": "openai/gpt-4o",
                "usage": {"input_tokens": 10, "output_tokens": 2, "cache_read_tokens": 0},
                "cost_usd": 0.5,
                "cost_source": "estimated",
                "duration_ms": 800,
            },
            {
                "id": "m3",
                "created_at": WHEN,
                "role": "tool",
                "content": [{"type": "text", "text": "result"}],
                "tool_call_id": "c1",
                "name": "f",
                "status": "ok",
                "full_content": "result",
            },
            {"id": "m4", "created_at": WHEN, "role": "system", "content": "summary"},
        ],
        "states": [
            {
                "id": "s1",
                "parent_id": None,
                "created_at": WHEN,
                "kind": "turn",
                "added": ["m1", "m2", "m3"],
                "model": "openai/gpt-4o",
                "user": "ada",
            },
            {
                "id": "s2",
                "parent_id": "s1",
                "created_at": WHEN,
                "kind": "compaction",
                "added": ["m4"],
                "context": ["m4"],
                "system": "be brief",
                "status": "ok",
                "receipt": {"removed_ids": ["m1"], "request_ids": ["m2"], "tokens_before": 9},
            },
        ],
    }


VALUES = [None, 0, -1, 1, 1.5, 10**13, True, "", "x", "nope", [], ["m1"], [1], {}, {"a": 1}]
TIMES = ["2026-11-21", "2026-11-21T10:00:00", "2026-11-21 10:00", "2026-11-21T10:00:00z",
         "20261121T100000", "2026-11-21T10:00:00+05:30", "2026-13-01T00:00:00Z"]  # fmt: skip
MISSING = object()


def variants() -> list[tuple[str, dict[str, Any]]]:
    """The document with one field of one record changed (or removed) at a time."""
    found = []

    def changed(label: str, record_of, key: str, values) -> None:
        for value in [MISSING, *values]:
            doc = document()
            record = record_of(doc)
            if value is MISSING:
                record.pop(key, None)
            else:
                record[key] = copy.deepcopy(value)
            shown = "missing" if value is MISSING else repr(value)
            found.append((f"{label}.{key}={shown}", doc))

    for key in [*HEADER.types, "id", "format", "version"]:
        changed("header", lambda d: d, key, VALUES + TIMES)
    for index in range(4):
        for key in [*MESSAGE.types, "id"]:
            changed(f"messages[{index}]", lambda d, i=index: d["messages"][i], key, VALUES + TIMES)
    for key in ("input_tokens", "output_tokens", "cache_write_tokens", "other"):
        changed("usage", lambda d: d["messages"][1]["usage"], key, VALUES)
    for key in ("id", "function"):
        changed("tool_call", lambda d: d["messages"][1]["tool_calls"][0], key, VALUES)
    for key in ("name", "arguments"):
        changed("function", lambda d: d["messages"][1]["tool_calls"][0]["function"], key, VALUES)
    for index in range(2):
        for key in [*STATE.types, "id"]:
            changed(f"states[{index}]", lambda d, i=index: d["states"][i], key, VALUES + TIMES)
    for key in ("removed_ids", "request_ids", "tokens_before", "cost_usd", "note"):
        changed("receipt", lambda d: d["states"][1]["receipt"], key, VALUES)
    for key in ("session_id", "state_id"):
        changed("forked_from", lambda d: d["forked_from"], key, VALUES)
    for label, change in [
        ("message id twice", lambda d: d["messages"][3].update(id="m1")),
        ("state id twice", lambda d: d["states"][1].update(id="s1")),
        ("a cycle", lambda d: d["states"][0].update(parent_id="s2")),
        ("an unknown parent", lambda d: d["states"][0].update(parent_id="s9")),
        ("an unknown message", lambda d: d["states"][0]["added"].append("m9")),
        ("a content part", lambda d: d["messages"][2]["content"].append("text")),
        ("a state", lambda d: d["states"].append("s3")),
        ("a message", lambda d: d["messages"].append(None)),
    ]:
        doc = document()
        change(doc)
        found.append((label, doc))
    return found


def full_check(text: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """What the full check makes of a document: its data and records, or None."""
    try:
        data = parse_document(text, f"{SESSION}.json")
        return data, check_document(data, SESSION)
    except (ValueError, SessionError):
        return None


def index_view(checked: tuple[dict[str, Any], dict[str, Any]] | None) -> object:
    """What the index takes from a checked document: its header, request and search rows."""
    if checked is None:
        return None
    data, records = checked
    header = {key: data.get(key) for key in ("id", "cwd", "title", "created_at", "updated_at")}
    return (
        header,
        _record_rows(data["id"], data["states"], records),
        _record_texts(data["id"], data["states"], records),
    )


def test_a_sound_document_takes_the_quick_path_to_the_same_rows():
    text = json.dumps(document())
    quick = quick_document(text, SESSION)
    assert quick is not None
    assert index_view(quick) == index_view(full_check(text))
    assert len(index_view(quick)[1]) == 2  # the answer, and the compaction's request


def test_the_quick_path_passes_only_what_the_full_check_passes():
    tried = variants()
    wrong = []
    for label, doc in tried:
        text = json.dumps(doc)
        quick = quick_document(text, SESSION)
        if quick is not None and index_view(quick) != index_view(full_check(text)):
            wrong.append(label)
    assert wrong == []
    assert len(tried) > 2000


def test_text_json_itself_cannot_hold_is_left_to_the_full_check():
    for text in ('{"id": "\\ud800"}', "[1, 2", "", json.dumps(document()) + " x"):
        assert quick_document(text, SESSION) is None
    doc = document()
    doc["messages"][1]["cost_usd"] = float("inf")  # Infinity: Python's json reads it
    assert quick_document(json.dumps(doc), SESSION) is None
    assert full_check(json.dumps(doc)) is None
