"""What the usage index holds of a session: a row per model request, and the words of its
messages for search, taken from a `Session` just saved or from a session file's records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mamba_agents.messages import content_text
from mamba_agents.store._quick_check import quick_document
from mamba_agents.store._session import Session, checked_document, read_text

# What a session search finds: the words people typed and the answers they got.
SEARCHED_ROLES = ("user", "assistant")


def epoch(stamp: str) -> float:
    """Seconds since 1970 of an ISO 8601 time (without a zone: local time)."""
    return _from_iso(stamp).timestamp()


_from_iso = datetime.fromisoformat


def priced_ids(kind: str | None, added: Iterable[str], receipt: dict[str, Any] | None) -> list[str]:
    """The ids of the messages whose requests a state accounts for: those it added, and
    for a compaction the requests that wrote its summary or scores."""
    ids = list(added)
    if kind == "compaction":
        ids += (receipt or {}).get("request_ids") or []
    return ids


def session_rows(
    session: Session, state_ids: Iterable[str] | None = None
) -> list[tuple[object, ...]]:
    """One row per assistant message with usage that a session's states (or the states
    named) added; messages a fork copied belong to its origin."""
    states = [session.states[s] for s in (session.states if state_ids is None else state_ids)]
    records = {
        message_id: session.messages[message_id].to_record()
        for state in states
        for message_id in priced_ids(state.kind, state.added, state.receipt)
    }
    return _record_rows(session.id, [state.to_record() for state in states], records)


def _text_row(
    session_id: str, message_id: str, role: str, created_at: str, content: object
) -> tuple[object, ...] | None:
    """The search row of one message, or None when it is not searched or has no text."""
    body = searched_text(role, content)
    if body is None:
        return None
    return (session_id, message_id, role, epoch(created_at), body)


def searched_text(role: str, content: object) -> str | None:
    """The words a search finds a message by (None: it is not searched)."""
    body = content_text(content) if role in SEARCHED_ROLES else ""
    return body if body.strip() else None


def session_texts(
    session: Session, state_ids: Iterable[str] | None = None
) -> list[tuple[object, ...]]:
    """The search rows of the messages a session's states (or the states named) added."""
    states = (
        session.states.values() if state_ids is None else (session.states[s] for s in state_ids)
    )
    rows = []
    for state in states:
        for message_id in state.added:
            message = session.messages[message_id]
            row = _text_row(
                session.id, message_id, message.role, message.created_at, message.content
            )
            if row is not None:
                rows.append(row)
    return rows


def _record_texts(
    session_id: str, states: Iterable[dict[str, Any]], records: dict[str, dict[str, Any]]
) -> list[tuple[object, ...]]:
    """`session_texts` from a file's checked records."""
    rows = []
    for state in states:
        for message_id in state.get("added") or ():
            record = records[message_id]
            row = _text_row(
                session_id, message_id, record["role"], record["created_at"], record.get("content")
            )
            if row is not None:
                rows.append(row)
    return rows


def _record_rows(
    session_id: str, states: Iterable[dict[str, Any]], records: dict[str, dict[str, Any]]
) -> list[tuple[object, ...]]:
    """`session_rows` from checked records, without building messages (a report may read
    thousands of files): message id, session id, time (`epoch`), model, the input,
    output, cache read and cache write tokens, cost, cost source and user."""
    rows = []
    for state in states:
        added = state.get("added") or ()
        if state.get("kind") == "compaction":
            added = priced_ids("compaction", added, state.get("receipt"))
        user = state.get("user") or ""
        for message_id in added:
            record = records[message_id]
            usage = record.get("usage")
            if not usage or record["role"] != "assistant":
                continue
            count = usage.get
            rows.append(
                (
                    message_id,
                    session_id,
                    _from_iso(record["created_at"]).timestamp(),
                    record.get("model") or "",
                    count("input_tokens") or 0,
                    count("output_tokens") or 0,
                    count("cache_read_tokens") or 0,
                    count("cache_write_tokens") or 0,
                    record.get("cost_usd") or 0.0,
                    record.get("cost_source") or "unpriced",
                    user,
                )
            )
    return rows


@dataclass(frozen=True)
class IndexedFile:
    """What the index needs of a session file, read without building messages: its
    request rows (`session_rows`), or its search rows (`session_texts`) when asked for."""

    id: str
    cwd: str
    title: str
    updated_at: str
    rows: list[tuple[object, ...]]
    texts: list[tuple[object, ...]]


def read_indexed(path: str, *, words: bool = False) -> IndexedFile | None:
    """The index's view of a session file, every field checked: its request rows, or with
    `words` its search rows instead; None when it is gone."""
    file = Path(path)
    text = read_text(file)
    if text is None:
        return None
    data, records = quick_document(text, file.stem) or checked_document(text, file)
    session_id, states = data["id"], data["states"]
    return IndexedFile(
        session_id,
        data.get("cwd") or "",
        data.get("title") or "",
        data.get("updated_at") or data["created_at"],
        [] if words else _record_rows(session_id, states, records),
        _record_texts(session_id, states, records) if words else [],
    )
