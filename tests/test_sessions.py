"""Session files: the format's invariants, atomic and concurrent writes, damaged files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import add_turn

from mamba_agents.errors import SessionError
from mamba_agents.messages import Usage
from mamba_agents.store import Session, SessionStore


def test_document_has_the_documented_fields(tmp_path):
    store = SessionStore(tmp_path)
    session = Session()
    add_turn(session, "hello")
    data = json.loads(store.save(session).read_text())
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
            sizes.append(len(store.save(session).read_bytes()))
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
    path = store.save(session)
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


def test_roundtrip_keeps_everything(tmp_path):
    store = SessionStore(tmp_path)
    session = Session()
    add_turn(session, "one")
    store.save(session)
    loaded = store.load(session.id)
    assert loaded.to_json() == session.to_json()
    assert loaded.context()[1].usage == Usage(10, 2)


def test_resolve_by_prefix_state_and_ambiguity(tmp_path):
    store = SessionStore(tmp_path)
    a = Session(id="aaaa1111-0000-4000-8000-000000000000")
    b = Session(id="aaaa2222-0000-4000-8000-000000000000")
    for s in (a, b):
        add_turn(s, "x")
        store.save(s)
    assert store.resolve("aaaa1").session.id == a.id
    with pytest.raises(SessionError, match="ambiguous"):
        store.resolve("aaaa")
    found = store.resolve(a.head)
    assert found.session.id == a.id and found.is_head
    with pytest.raises(SessionError, match="no session or state"):
        store.resolve("zzzz")


def test_damaged_file_is_named_skipped_and_never_overwritten(tmp_path):
    store = SessionStore(tmp_path)
    good = Session()
    add_turn(good, "fine")
    store.save(good)
    damaged = tmp_path / "damaged.json"
    damaged.write_text('{"format": "mamba.session", "version": 1, "messages": [')
    future = tmp_path / "future.json"
    future.write_text(json.dumps({"format": "mamba.session", "version": 99}))
    sessions, warnings = store.load_all()
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


WRITER = textwrap.dedent("""
    import sys
    from mamba_agents.messages import Message
    from mamba_agents.store import SessionStore
    store = SessionStore(sys.argv[1])
    session = store.load(sys.argv[2])
    for i in range(30):
        session.add_state(parent_id=session.head, new_messages=[Message.user(f"{sys.argv[3]}-{i}")])
        store.save(session)
""")


def test_two_processes_writing_one_session_lose_nothing(tmp_path):
    store = SessionStore(tmp_path)
    session = Session()
    add_turn(session, "start")
    store.save(session)
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), session.id, name])
        for name in ("A", "B")
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    final = store.load(session.id)
    texts = {m.text for m in final.messages.values()}
    for name in ("A", "B"):
        assert {f"{name}-{i}" for i in range(30)} <= texts
    assert len(final.states) == 61
    for state in final.states.values():
        assert state.parent_id is None or state.parent_id in final.states


def test_a_reformatted_file_still_loads_and_saves(tmp_path):
    store = SessionStore(tmp_path)
    session = Session()
    add_turn(session, "one")
    path = store.save(session)
    path.write_text(json.dumps(json.loads(path.read_text()), indent=4))
    loaded = SessionStore(tmp_path).load(session.id)
    add_turn(loaded, "two")
    SessionStore(tmp_path).save(loaded)
    again = SessionStore(tmp_path).load(session.id)
    assert [m.text for m in again.context()] == ["one", "re: one", "two", "re: two"]
