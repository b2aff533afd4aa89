"""Damaged and hostile session files: cycles, ids used as paths, bad fields, vanished files,
read-only folders and left-over temp files. A damaged file is named and skipped; it never
hangs, crashes or redirects anything."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import add_turn, run_mamba

from mamba_agents.config import AgentSettings
from mamba_agents.errors import SessionError
from mamba_agents.store import Session, SessionStore, State
from mamba_agents.usage import build_report


def saved(store: SessionStore, *texts: str) -> Session:
    session = Session()
    for text in texts:
        add_turn(session, text)
    store.save(session)
    return session


def write_damaged(store: SessionStore, change: Callable[[dict[str, Any]], Any]) -> Path:
    """A session file, valid until `change` edits its document (in place or by returning a
    replacement), written as `<its uuid>.json`."""
    session = Session()
    add_turn(session, "one")
    add_turn(session, "two")
    data = json.loads(session.to_json())
    data = change(data) or data
    store.root.mkdir(parents=True, exist_ok=True)
    path = store.path_for(session.id)
    text = data if isinstance(data, str) else json.dumps(data)
    path.write_text(text, encoding="utf-8")
    return path


def within(seconds: float, work: Callable[[], Any]) -> Any:
    """`work()`'s result or exception; fails (instead of hanging the suite) when it runs on."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def report(store: SessionStore, **kwargs: Any):
    return build_report(store, AgentSettings.defaults(), by="model", **kwargs)


# -- hole 10: cycles in parent pointers -------------------------------------------------------


def self_parent(data: dict[str, Any]) -> None:
    state = data["states"][-1]
    state["parent_id"] = state["id"]


def two_cycle(data: dict[str, Any]) -> None:
    first, second = data["states"]
    first["parent_id"] = second["id"]


@pytest.mark.parametrize("change", [self_parent, two_cycle], ids=["own-parent", "a-b-a"])
def test_a_cycle_of_parents_marks_the_file_damaged(tmp_path, change):
    store = SessionStore(tmp_path)
    good = saved(store, "fine")
    path = write_damaged(store, change)
    with pytest.raises(SessionError, match=f"{path.name}: damaged session file .*cycle"):
        within(5, lambda: store.load(path.stem))
    sessions, warnings = within(5, store.list_sessions)
    assert [s.id for s in sessions] == [good.id]
    assert len(warnings) == 1 and path.name in warnings[0]
    assert within(5, lambda: report(store)).totals.requests == 1


def test_walks_of_a_cyclic_session_in_memory_stop():
    session = Session()
    add_turn(session, "one")
    loop = State(id="s1", parent_id="s2", created_at="2026-01-01T00:00:00Z", kind="turn")
    back = State(id="s2", parent_id="s1", created_at="2026-01-01T00:00:00Z", kind="turn")
    session.states.update(s1=loop, s2=back)
    for walk in (session.context_ids, session.lineage):
        with pytest.raises(SessionError, match="cycle"):
            within(5, lambda walk=walk: walk("s1"))


# -- hole 12: the file name is the identity ----------------------------------------------------


def test_an_id_that_is_not_the_file_name_or_not_a_uuid_is_damaged(tmp_path):
    store = SessionStore(tmp_path)
    other = str(uuid.uuid4())
    for bad in (other, "/../../tmp/x", other.upper(), 7):
        path = write_damaged(store, lambda d, bad=bad: d.update(id=bad))
        with pytest.raises(SessionError, match=f"{path.name}: damaged session file .*id"):
            store.load(path.stem)
        path.unlink()


@pytest.mark.parametrize("bad", ["../x", "/tmp/x", "", "x" * 36, "a/b"])
def test_the_store_builds_no_path_from_an_id_that_is_not_a_uuid(tmp_path, bad):
    store = SessionStore(tmp_path / "sessions")
    for use in (store.path_for, store.load, store.delete):
        with pytest.raises(SessionError, match="not a session id"):
            use(bad)
    with pytest.raises(SessionError, match="not a session id"):
        store.save(Session(id=bad))
    assert not (tmp_path / "x.json").exists()


def test_hostile_id_neither_redirects_a_run_nor_a_delete(mamba, home, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "x.json"
    victim.write_text("keep me")
    first = mamba("run", "older question", "-o", "json").json()
    store = SessionStore(home / "data" / "sessions")
    hostile = write_damaged(store, lambda d: d.update(id=f"/../../{outside}/x"))
    assert hostile.stat().st_mtime_ns > store.path_for(first["session_id"]).stat().st_mtime_ns

    resumed = mamba("run", "-c", "again", "-o", "json")
    assert resumed.code == 0, resumed.stderr
    assert resumed.json()["session_id"] == first["session_id"]
    assert f"mamba: warning: skipped {hostile}: damaged session file" in resumed.stderr
    assert victim.read_text() == "keep me" and sorted(os.listdir(outside)) == ["x.json"]

    deleted = mamba("sessions", "delete", hostile.stem[:8])
    assert deleted.code == 0, deleted.stderr
    assert not hostile.exists() and victim.read_text() == "keep me"


# -- hole 13: every field is checked; one damaged file never breaks the others ----------------


def deep_nesting(data: dict[str, Any]) -> str:
    return '{"format": "mamba.session", "version": 1, "title": ' + "[" * 100_000 + "]" * 100_000


def at_message(index: int, **fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["messages"][index].update(fields)


def at_state(index: int, **fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["states"][index].update(fields)


DAMAGE = {
    "deep nesting": deep_nesting,
    "string cost_usd": at_message(1, cost_usd="0.5"),
    "nan cost_usd": at_message(1, cost_usd=float("nan")),
    "numeric title": lambda d: d.update(title=12),
    "numeric created_at": lambda d: d.update(created_at=1700000000),
    "not a date created_at": lambda d: d.update(created_at="yesterday"),
    "message not a dict": lambda d: d["messages"].append("hello"),
    "messages not a list": lambda d: d.update(messages={"a": 1}),
    "usage tokens not int": at_message(1, usage={"input_tokens": "ten"}),
    "usage tokens bool": at_message(1, usage={"input_tokens": True}),
    "usage not a dict": at_message(1, usage=[1, 2]),
    "content a number": at_message(0, content=5),
    "unknown role": at_message(0, role="wizard"),
    "tool call not a dict": at_message(1, tool_calls=["ls"]),
    "message created_at missing": lambda d: d["messages"][0].pop("created_at"),
    "state names a missing message": at_state(0, added=["no-such-message"]),
    "context names a missing message": at_state(1, context=["no-such-message"]),
    "state parent missing": at_state(1, parent_id="no-such-state"),
    "state added not a list": at_state(0, added="abc"),
    "duplicate state": lambda d: d["states"].append(d["states"][0]),
    "head not a state": lambda d: d.update(head="no-such-state"),
    "forked_from a string": lambda d: d.update(forked_from="elsewhere"),
    "cwd a list": lambda d: d.update(cwd=["/"]),
    "not utf-8": lambda d: None,
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_each_damage_is_named_and_skipped_by_listing_loading_and_usage(tmp_path, name):
    store = SessionStore(tmp_path)
    good = saved(store, "fine")
    path = write_damaged(store, DAMAGE[name])
    if name == "not utf-8":
        path.write_bytes(b"\xff\xfe" + path.read_bytes())
    with pytest.raises(SessionError, match=f"{path.name}: "):
        store.load(path.stem)
    sessions, warnings = store.list_sessions()
    assert [s.id for s in sessions] == [good.id]
    assert len(warnings) == 1 and path.name in warnings[0]
    result = report(store)
    assert result.totals.requests == 1
    assert len(result.warnings) == 1 and path.name in result.warnings[0]
    latest, skipped = store.latest()
    assert latest.id == good.id and skipped == warnings
    assert store.resolve(good.id[:8]).session.id == good.id


def test_a_file_gone_between_listing_and_reading_is_skipped(tmp_path):
    store = SessionStore(tmp_path)
    good = saved(store, "fine")
    # A dangling link is listed by the folder scan and then fails stat and open exactly
    # like a file deleted between the two.
    (tmp_path / f"{uuid.uuid4()}.json").symlink_to(tmp_path / "gone.json")
    assert [p.name for p in store.files()] == [f"{good.id}.json"]
    sessions, warnings = store.list_sessions()
    assert [s.id for s in sessions] == [good.id] and warnings == []
    assert report(store).totals.requests == 1


def test_damaged_files_through_the_commands(mamba, home):
    mamba("run", "good one")
    store = SessionStore(home / "data" / "sessions")
    nested = write_damaged(store, DAMAGE["deep nesting"])
    cyclic = write_damaged(store, self_parent)
    listing = mamba("sessions", "list", "--json", timeout=20)
    assert listing.code == 0 and len(listing.json()) == 1
    for path in (nested, cyclic):
        assert f"mamba: warning: skipped {path}: damaged session file" in listing.stderr
    for command in (("sessions", "show"), ("run", "more", "--session")):
        shown = mamba(*command, cyclic.stem[:8], timeout=20)
        assert shown.code == 1 and shown.stderr.count("\n") == 1, shown.stderr
        assert shown.stderr.startswith(f"mamba: {cyclic}: damaged session file (states: ")
    used = mamba("usage", "--by", "model", "--json", timeout=20)
    assert used.code == 0 and used.json()["totals"]["requests"] == 1
    assert f"skipped {nested}" in used.stderr and "internal error" not in used.stderr


def test_a_damaged_file_is_never_overwritten(tmp_path):
    store = SessionStore(tmp_path)
    path = write_damaged(store, DAMAGE["string cost_usd"])
    before = path.read_bytes()
    session = Session(id=path.stem)
    add_turn(session, "overwrite?")
    with pytest.raises(SessionError, match="damaged"):
        store.save(session)
    assert path.read_bytes() == before


# -- hole 14: read-only folders, an index that cannot be written, left-over temp files ---------


@contextlib.contextmanager
def immutable(folder: Path) -> Iterator[None]:
    """Make `folder` refuse new and removed entries, even to root (`chattr +i`)."""
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i not available here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def drop_index(folder: Path) -> None:
    for path in folder.glob(".index.sqlite3*"):
        path.unlink()


def test_usage_reports_from_the_files_when_the_index_cannot_be_opened(tmp_path):
    store = SessionStore(tmp_path)
    saved(store, "one", "two")
    drop_index(tmp_path)
    # A folder where the index file should be: SQLite cannot open or create it, as on a
    # full disk or a read-only folder.
    (tmp_path / ".index.sqlite3").mkdir()
    result = report(store)
    assert result.totals.requests == 2 and result.index_error
    by_session = build_report(store, AgentSettings.defaults(), by="session")
    assert by_session.rows[0].title == "one"


def test_usage_and_delete_in_a_read_only_folder(home):
    folder = home / "data" / "sessions"
    store = SessionStore(folder)
    session = saved(store, "one")
    drop_index(folder)
    with immutable(folder):
        used = run_mamba("usage", "--by", "model", "--json", home=home)
        deleted = run_mamba("sessions", "delete", session.id[:8], home=home)
    assert used.code == 0 and used.json()["totals"]["requests"] == 1
    assert "mamba: warning: usage index not updated (" in used.stderr
    assert "): reporting from the session files" in used.stderr
    assert deleted.code == 1 and deleted.stderr.count("\n") == 1
    assert deleted.stderr.startswith(f"mamba: cannot delete session {session.id}")
    assert store.path_for(session.id).exists()


def test_left_over_temp_files_are_removed_unless_a_writer_holds_the_lock(tmp_path):
    store = SessionStore(tmp_path)
    one, two = saved(store, "one"), saved(store, "two")
    old = time.time() - 3600
    orphan = tmp_path / f".{one.id}.k1ll3d.tmp"
    busy = tmp_path / f".{two.id}.wr1t1ng.tmp"
    fresh = tmp_path / f".{one.id}.n0w.tmp"
    for path in (orphan, busy, fresh):
        path.write_text("{partial")
    for path in (orphan, busy):
        os.utime(path, (old, old))
    with open(tmp_path / f".{two.id}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sessions, warnings = store.list_sessions()
    assert len(sessions) == 2 and warnings == []
    assert not orphan.exists() and busy.exists() and fresh.exists()
    store.list_sessions()
    assert not busy.exists() and fresh.exists()


# -- found by attacking the fixes ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_session_file_that_is_a_pipe_or_a_device_is_named_and_skipped(tmp_path, kind):
    store = SessionStore(tmp_path / "sessions")
    good = saved(store, "fine")
    hostile = store.path_for(str(uuid.uuid4()))
    if kind == "fifo":
        os.mkfifo(hostile)
    else:
        hostile.symlink_to("/dev/zero")
    sessions, warnings = within(10, store.list_sessions)
    assert [s.id for s in sessions] == [good.id]
    assert len(warnings) == 1 and hostile.name in warnings[0]
    assert within(10, lambda: report(store)).totals.requests == 1


def test_a_lock_file_that_is_a_pipe_is_an_error_not_a_hang(tmp_path):
    store = SessionStore(tmp_path / "sessions")
    session = saved(store, "one")
    store._lock_path(session.id).unlink()
    os.mkfifo(store._lock_path(session.id))
    add_turn(session, "two")
    with pytest.raises(SessionError, match="not a regular file"):
        within(10, lambda: store.save(session))
    assert within(10, store.files) == [store.path_for(session.id)]


@pytest.mark.parametrize("count", [2**63, 10**400])
def test_token_counts_too_large_for_any_total_mark_the_file_damaged(tmp_path, count):
    store = SessionStore(tmp_path / "sessions")
    good = saved(store, "fine")

    def huge(data: dict[str, Any]) -> None:
        answer = next(m for m in data["messages"] if m["role"] == "assistant")
        answer["usage"]["output_tokens"] = count

    write_damaged(store, huge)
    sessions, warnings = store.list_sessions()
    assert [s.id for s in sessions] == [good.id] and len(warnings) == 1
    assert report(store).totals.requests == 1
