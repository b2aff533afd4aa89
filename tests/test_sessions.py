"""Session files: the format's invariants, atomic and concurrent writes, damaged files."""

from __future__ import annotations

import json

import pytest
from conftest import add_turn

from mamba_agents.errors import SessionError
from mamba_agents.store import Session, SessionStore


def test_document_has_the_documented_fields(tmp_path):
    store = SessionStore(tmp_path)
    session = Session()
    add_turn(session, "hello")
    store.save(session)
    data = json.loads(store.path_for(session.id).read_text())
    assert data["format"] == "mamba.session" and data["version"] == 1
    for key in (
        "id",
        "title",
        "created_at",
        "updated_at",
        "model",
        "cwd",
        "forked_from",
        "head",
        "messages",
        "states",
    ):
        assert key in data
    assistant = data["messages"][1]
    for key in (
        "id",
        "created_at",
        "role",
        "content",
        "model",
        "usage",
        "cost_usd",
        "cost_source",
        "duration_ms",
    ):
        assert key in assistant
    state = data["states"][0]
    assert state["parent_id"] is None and state["kind"] == "turn"
    assert state["added"] == [m["id"] for m in data["messages"]]
    assert data["title"] == "hello" and data["created_at"].endswith("Z")


def test_storage_grows_with_messages_not_turns_times_history(tmp_path):
    store = SessionStore(tmp_path)
    session = Session()
    sizes = []
    for i in range(200):
        add_turn(session, f"message number {i}")
        if i in (49, 199):
            store.save(session)
            sizes.append(len(store.path_for(session.id).read_bytes()))
    per_turn_early, per_turn_late = sizes[0] / 50, sizes[1] / 200
    assert per_turn_late < per_turn_early * 1.1
    data = json.loads(store.path_for(session.id).read_text())
    assert max(len(s["added"]) for s in data["states"]) == 2


def test_context_follows_parents_and_resuming_old_state_forks(tmp_path):
    store = SessionStore(tmp_path)
    session = Session()
    add_turn(session, "one")
    first_state = session.head
    add_turn(session, "two")
    store.save(session)
    path = store.path_for(session.id)
    before = path.read_bytes()
    assert [m.text for m in session.context(first_state)] == ["one", "re: one"]
    fork = session.fork(first_state)
    add_turn(fork, "branch")
    store.save(fork)
    assert path.read_bytes() == before
    assert [m.text for m in store.load(fork.id).context()] == [
        "one",
        "re: one",
        "branch",
        "re: branch",
    ]
    assert fork.forked_from == {"session_id": session.id, "state_id": first_state}


def test_damaged_file_is_named_skipped_and_never_overwritten(tmp_path):
    store = SessionStore(tmp_path)
    good = Session()
    add_turn(good, "fine")
    store.save(good)
    damaged = tmp_path / "damaged.json"
    damaged.write_text('{"format": "mamba.session", "version": 1, "messages": [')
    future = tmp_path / "future.json"
    future.write_text(json.dumps({"format": "mamba.session", "version": 99}))
    sessions, warnings = store.list_sessions()
    assert [s.id for s in sessions] == [good.id]
    assert any("damaged.json: damaged session file" in w for w in warnings)
    assert any("unsupported session format version 99" in w for w in warnings)
    victim = Session(id="damaged")
    add_turn(victim, "overwrite?")
    with pytest.raises(SessionError):
        store.save(victim)
    assert damaged.read_text().endswith("[")


def test_write_is_atomic_no_temp_files_left(tmp_path):
    store = SessionStore(tmp_path)
    session = Session()
    add_turn(session, "one")
    store.save(session)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        f"{session.id}.json"
    ]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_reformatted_file_still_loads_and_saves(tmp_path):
    store = SessionStore(tmp_path)
    session = Session()
    add_turn(session, "one")
    store.save(session)
    path = store.path_for(session.id)
    path.write_text(json.dumps(json.loads(path.read_text()), indent=4))
    loaded = SessionStore(tmp_path).load(session.id)
    add_turn(loaded, "two")
    SessionStore(tmp_path).save(loaded)
    again = SessionStore(tmp_path).load(session.id)
    assert [m.text for m in again.context()] == ["one", "re: one", "two", "re: two"]
