"""Session behaviour, the same on both stores: the session files and PostgreSQL.

Every test here runs twice (`store_kind`); the PostgreSQL runs talk to a real server started
for the tests, each in a database of its own.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest
from conftest import add_turn

from mamba_agents.errors import SessionError
from mamba_agents.messages import Message, Usage
from mamba_agents.search import search_sessions
from mamba_agents.store import PostgresStore, Session, SessionStore
from mamba_agents.usage import build_report


@pytest.fixture
def store(any_store):
    return any_store


@pytest.fixture
def location(store_kind, request, tmp_path):
    """What a separate process opens to reach the store under test."""
    if store_kind == "files":
        return str(tmp_path / "sessions")
    return request.getfixturevalue("postgres_url")


def test_roundtrip_keeps_everything(store):
    session = Session()
    add_turn(session, "one")
    store.save(session)
    loaded = store.load(session.id)
    assert loaded.to_json() == session.to_json()
    assert loaded.context()[1].usage == Usage(10, 2)


def test_resuming_an_old_state_forks_and_leaves_the_origin_alone(store):
    session = Session()
    add_turn(session, "one")
    first_state = session.head
    add_turn(session, "two")
    store.save(session)
    before = store.load(session.id).to_json()
    fork = store.load(session.id).fork(first_state)
    add_turn(fork, "branch")
    store.save(fork)
    assert store.load(session.id).to_json() == before
    assert [m.text for m in store.load(fork.id).context()] == [
        "one",
        "re: one",
        "branch",
        "re: branch",
    ]
    assert store.load(fork.id).forked_from == {"session_id": session.id, "state_id": first_state}


def test_resolve_by_prefix_state_and_ambiguity(store):
    a = Session(id="aaaa1111-0000-4000-8000-000000000000")
    b = Session(id="aaaa2222-0000-4000-8000-000000000000")
    for s in (a, b):
        add_turn(s, "x")
        store.save(s)
    assert store.resolve("aaaa1").session.id == a.id
    with pytest.raises(SessionError, match="ambiguous"):
        store.resolve("aaaa")
    found = store.resolve(a.head[:10])
    assert found.session.id == a.id and found.is_head
    with pytest.raises(SessionError, match="no session or state"):
        store.resolve("zzzz")


def test_immagent_operations(store):
    assert store.ping() and store.count_sessions() == 0
    empty = store.create_session(title="planning", cwd="/srv/app")
    assert store.load_session(empty.id).title == "planning"
    sessions = []
    for n in range(5):
        session = Session(title="report" if n % 2 else f"other {n}")
        add_turn(session, f"turn {n}")
        store.save(session)
        sessions.append(session)
    assert store.count_sessions() == 6
    assert sorted(s.id for s in store.find_by_title("report")) == sorted(
        s.id for s in sessions if s.title == "report"
    )
    page, warnings = store.list_sessions(limit=2, offset=1)
    assert len(page) == 2 and not warnings
    newest_first = [s.id for s in reversed(sessions)]
    assert [s.id for s in page] == newest_first[1:3]
    assert store.latest()[0].id == newest_first[0]
    store.delete(sessions[0].id)
    with pytest.raises(SessionError, match="no session"):
        store.load(sessions[0].id)
    with pytest.raises(SessionError, match="no session"):
        store.delete(sessions[0].id)
    assert store.count_sessions() == 5 and store.gc() == 0


def test_two_connections_continuing_one_session_both_keep_their_turn(store, store_kind, location):
    session = Session()
    add_turn(session, "start")
    store.save(session)
    other = SessionStore(location) if store_kind == "files" else PostgresStore(location)
    mine, theirs = store.load(session.id), other.load(session.id)
    add_turn(mine, "mine")
    add_turn(theirs, "theirs")
    store.save(mine)
    other.save(theirs)
    final = store.load(session.id)
    assert {"mine", "theirs"} <= {m.text for m in final.messages.values()}
    assert len(final.states) == 3
    # The later save is the head; the other turn is a branch to resume by its state id.
    assert final.head == theirs.head
    assert store.resolve(mine.head).session.id == session.id
    other.close()


WRITER = textwrap.dedent("""
    import sys
    from mamba_agents.messages import Message
    from mamba_agents.store import PostgresStore, SessionStore
    where = sys.argv[1]
    store = PostgresStore(where) if where.startswith("postgresql:") else SessionStore(where)
    session = store.load(sys.argv[2])
    for i in range(30):
        session.add_state(parent_id=session.head, new_messages=[Message.user(f"{sys.argv[3]}-{i}")])
        store.save(session)
""")


def test_two_processes_writing_one_session_lose_nothing(store, location):
    session = Session()
    add_turn(session, "start")
    store.save(session)
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, location, session.id, name])
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


def test_usage_and_search_say_the_same_on_both_stores(store):
    for user, words in (("alice", "the deploy script failed"), ("bob", "rename the config key")):
        session = Session(cwd="/srv/app")
        session.add_state(
            parent_id=None,
            new_messages=[
                Message.user(words),
                Message(
                    role="assistant",
                    content=f"fixed: {words}",
                    model="openai/gpt-4o",
                    usage=Usage(100, 20),
                    cost_usd=0.5,
                    cost_source="estimated",
                ),
            ],
            user=user,
        )
        store.save(session)
    report = build_report(store, by="user")
    assert {row.key: (row.totals.requests, row.totals.cost_usd) for row in report.rows} == {
        "alice": (1, 0.5),
        "bob": (1, 0.5),
    }
    found = search_sessions(store, "deploy failed", marks=("[", "]"))
    assert [hit.title for hit in found.hits] == ["the deploy script failed"]
    assert "[deploy]" in found.hits[0].snippet and "[failed]" in found.hits[0].snippet
    assert search_sessions(store, '"config key"', cwd="/srv").hits[0].title.startswith("rename")
    assert not search_sessions(store, '"key config"').hits
    assert not search_sessions(store, "deploy", cwd="/elsewhere").hits
    assert search_sessions(store, "deploy", model="gpt-4*").hits
    assert not search_sessions(store, "deploy", model="claude*").hits
    assert not search_sessions(store, "deploy OR rename").hits  # typed operators are words


def test_postgres_shares_messages_between_states_and_forks(postgres_url):
    with PostgresStore(postgres_url) as store:
        session = Session()
        for n in range(40):
            add_turn(session, f"turn {n}")
            store.save(session)
        fork = session.fork(session.head)
        store.save(fork)

        def count(table):
            return store._query(f"SELECT count(*) FROM {table}")[0][0]

        # Linear in messages: each message stored once, each state once, the fork links.
        assert count("mamba_messages") == 80 and count("mamba_states") == 41
        assert count("mamba_session_messages") == 160
        store.delete(session.id)
        assert count("mamba_messages") == 80  # the fork still holds them
        assert len(store.load(fork.id).context()) == 80
        store.delete(fork.id)
        assert count("mamba_messages") == 0


def test_postgres_refuses_a_message_id_with_other_content(postgres_url):
    with PostgresStore(postgres_url) as store:
        first = Session()
        first.add_state(
            parent_id=None,
            new_messages=[
                Message.user(
                    "original",
                )
            ],
        )
        store.save(first)
        forged = Session()
        message_id = next(iter(first.messages))
        forged.add_state(
            parent_id=None, new_messages=[Message(role="user", content="forged", id=message_id)]
        )
        with pytest.raises(SessionError, match=r"already in .* with other content"):
            store.save(forged)
        assert store.load(first.id).context()[0].text == "original"
        assert forged.id not in store.ids()


def test_postgres_damaged_rows_are_named_and_skipped(postgres_url):
    with PostgresStore(postgres_url) as store:
        good, bad = Session(), Session()
        add_turn(good, "good")
        add_turn(bad, "bad")
        store.save(good)
        store.save(bad)
        store._query(
            "UPDATE mamba_states SET record = jsonb_set(record, '{parent_id}', to_jsonb(id)) "
            "WHERE session_id = %s RETURNING id",
            (bad.id,),
        )
        sessions, warnings = store.list_sessions()
        assert [s.id for s in sessions] == [good.id]
        assert len(warnings) == 1 and bad.id in warnings[0] and "damaged" in warnings[0]
        with pytest.raises(SessionError, match="damaged"):
            store.load(bad.id)


def test_postgres_schema_is_made_once_when_many_start_at_once(postgres_url):
    errors: list[BaseException] = []

    def start():
        try:
            PostgresStore(postgres_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    with PostgresStore(postgres_url) as store:
        assert store._query("SELECT version FROM mamba_schema") == [(1,)]


def test_postgres_refuses_a_newer_schema(postgres_url):
    with PostgresStore(postgres_url) as store:
        store._query("INSERT INTO mamba_schema (version) VALUES (99) RETURNING version")
    with pytest.raises(SessionError, match="schema is version 99, newer than this mamba"):
        PostgresStore(postgres_url)


def test_postgres_unreachable_is_one_line_without_the_password():
    with pytest.raises(SessionError) as caught:
        PostgresStore("postgresql://alice:hunter2-secret@127.0.0.1:1/team")
    message = str(caught.value)
    assert "cannot connect" in message and "hunter2" not in message
    assert "postgresql://alice:****@127.0.0.1:1/team" in message and "\n" not in message
