"""Finding sessions by what was said in them: the full-text index beside the usage index,
`mamba sessions search`, and `/sessions search` in the chat."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import MAMBA, drop_index, mamba_env, run_mamba
from terminal import Terminal

from mamba_agents.messages import Message, Usage
from mamba_agents.search import search_sessions
from mamba_agents.store import HIT_END, HIT_START, Session, SessionStore
from mamba_agents.usage import build_report


def said(store: SessionStore, *exchanges: str, cwd: str = "/w", model: str = "openai/gpt-4o"):
    """A saved session with one user message and its answer per exchange."""
    session = Session(cwd=cwd)
    for text in exchanges:
        answer = Message(role="assistant", content=f"About {text}.", model=model, usage=Usage(9, 3))
        session.add_state(parent_id=session.head, new_messages=[Message.user(text), answer])
    store.save(session)
    return session


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "sessions")


def test_sessions_are_ranked_with_a_marked_snippet_of_the_best_match(store):
    door = said(store, "the blue door squeaks", "paint the blue door blue")
    said(store, "a red car in the garage")
    whale = said(store, "whales are big")
    hits = search_sessions(store, "blue door").hits
    assert [h.session_id for h in hits] == [door.id]
    assert hits[0].hits == 4  # both questions and both answers
    assert f"{HIT_START}blue{HIT_END}" in hits[0].snippet
    assert [h.session_id for h in search_sessions(store, "WHALES").hits] == [whale.id]
    assert search_sessions(store, '"squeaks door"').hits == []  # a phrase keeps its order
    assert len(search_sessions(store, '"door squeaks"').hits) == 1


def written(store: SessionStore, day: int, *texts: str) -> Session:
    """A saved session of one user message per text, written an hour apart on `day` of
    November 2026."""
    session = Session(cwd="/w")
    messages = [
        Message(role="user", content=text, created_at=f"2026-11-{day:02d}T{hour:02d}:00:00.000Z")
        for hour, text in enumerate(texts, 10)
    ]
    session.add_state(parent_id=None, new_messages=messages)
    store.save(session)
    return session


def test_a_word_that_tells_sessions_apart_ranks_them_by_bm25(store):
    # "kettle" is in 3 messages of 8: the session that says it most comes first, though older.
    dense = written(store, 1, "kettle kettle kettle", "tea")
    light = written(store, 2, "a long line that mentions the kettle once among many words", "tea")
    written(store, 3, "kettle and cups", "tea", "tea", "milk")
    hits = search_sessions(store, "kettle").hits
    assert hits[0].session_id == dense.id and hits[-1].session_id == light.id
    assert all(hit.score < 0 for hit in hits)


def test_words_in_half_the_messages_or_more_list_the_latest_sessions_first(store):
    # BM25 gives no weight to a word found in half the messages or more: the sessions whose
    # latest hit is latest come first, each with that hit.
    old = written(store, 1, "the the the the", "the")
    new = written(store, 20, "all of the words", "other")
    middle = written(store, 9, "the", "the tea at the end")
    hits = search_sessions(store, "the").hits
    assert [hit.session_id for hit in hits] == [new.id, middle.id, old.id]
    assert hits[1].snippet == f"{HIT_START}the{HIT_END} tea at {HIT_START}the{HIT_END} end"
    assert [hit.hits for hit in hits] == [1, 2, 2]
    assert {hit.score for hit in hits} == {0.0}
    # A rarer word beside it carries weight again: ranked by BM25.
    assert [h.session_id for h in search_sessions(store, "the tea").hits] == [middle.id]
    assert search_sessions(store, "the tea").hits[0].score < 0


def test_typed_query_syntax_is_only_words(store):
    said(store, 'use AND or OR with NOT (carefully) * and quotes"')
    for words in ('AND OR NOT ( " *', "NEAR(a b)", "col:value", "-x", '"', ""):
        search_sessions(store, words)  # never a syntax error
    assert len(search_sessions(store, "NOT (carefully)").hits) == 1


def test_filters_since_model_and_folder(store):
    old = said(store, "deploy the service", cwd="/srv/app", model="anthropic/claude-sonnet-4-5")
    record = json.loads(store.path_for(old.id).read_text())
    for message in record["messages"]:
        message["created_at"] = "2026-01-01T00:00:00.000Z"
    store.path_for(old.id).write_text(json.dumps(record))
    new = said(store, "deploy the website", cwd="/home/me/site", model="openai/gpt-4o-mini")
    ids = lambda **kw: {h.session_id for h in search_sessions(store, "deploy", **kw).hits}  # noqa: E731
    assert ids() == {old.id, new.id}
    assert ids(since="7d") == {new.id}
    assert ids(model="claude-*") == {old.id}
    assert ids(model="openai/*") == {new.id}
    assert ids(cwd="/srv") == {old.id} and ids(cwd="/srv/ap") == set()


def test_the_index_follows_the_files(store):
    kept = said(store, "first topic")
    gone = said(store, "first topic again")
    assert len(search_sessions(store, "topic").hits) == 2
    kept.add_state(
        parent_id=kept.head, new_messages=[Message.user("second subject"), Message.user("x")]
    )
    store.save(kept)  # a new turn is found at once
    assert [h.session_id for h in search_sessions(store, "subject").hits] == [kept.id]
    store.delete(gone.id)
    assert [h.session_id for h in search_sessions(store, "topic").hits] == [kept.id]
    (store.root / "broken.json").write_text("{nope")
    result = search_sessions(store, "topic")
    assert len(result.hits) == 1 and "broken.json" in result.warnings[0]
    store.index.path.unlink()  # gone: rebuilt by itself
    assert [h.session_id for h in search_sessions(store, "subject").hits] == [kept.id]


def reworded(store: SessionStore, session: Session, old: str, new: str) -> None:
    """Change the words of a session's messages in its file, behind the index."""
    path = store.path_for(session.id)
    path.write_text(path.read_text().replace(old, new))


def test_a_usage_report_leaves_the_words_to_the_first_search(store):
    umbrella = said(store, "the purple umbrella")
    said(store, "a wooden boat")
    drop_index(store)
    assert build_report(store, by="model").totals.requests == 2  # reads requests only
    with sqlite3.connect(store.index.path) as db:
        assert db.execute("SELECT COUNT(*) FROM texts").fetchone() == (0,)
    [hit] = search_sessions(store, "umbrella").hits  # the words are read now
    assert hit.session_id == umbrella.id and hit.hits == 2
    assert [h.hits for h in search_sessions(store, "umbrella").hits] == [2]  # once
    # A file changed after a report is read again for its words, the old ones dropped.
    reworded(store, umbrella, "purple umbrella", "yellow raincoat")
    assert build_report(store, by="model").totals.requests == 2
    assert search_sessions(store, "umbrella").hits == []
    assert [(h.session_id, h.hits) for h in search_sessions(store, "raincoat").hits] == [
        (umbrella.id, 2)
    ]
    # ...and one changed with no report between.
    reworded(store, umbrella, "yellow raincoat", "green kite")
    assert [h.session_id for h in search_sessions(store, "kite").hits] == [umbrella.id]
    assert search_sessions(store, "raincoat").hits == []
    # A save after the words were read adds its own at once.
    umbrella = store.load(umbrella.id)
    umbrella.add_state(parent_id=umbrella.head, new_messages=[Message.user("and a red kite")])
    store.save(umbrella)
    assert [h.hits for h in search_sessions(store, "kite").hits] == [3]
    assert [h.hits for h in search_sessions(store, "boat").hits] == [2]


def test_a_file_saved_before_the_first_search_is_indexed_whole(store):
    session = said(store, "the first question")
    drop_index(store)
    build_report(store, by="model")  # the index holds its requests, not its words
    session = store.load(session.id)
    session.add_state(parent_id=session.head, new_messages=[Message.user("a second question")])
    store.save(session)
    assert [h.hits for h in search_sessions(store, "question").hits] == [3]
    assert [h.hits for h in search_sessions(store, "first").hits] == [2]


def test_words_the_index_cannot_take_are_searched_in_memory(store):
    session = said(store, "the purple umbrella")
    drop_index(store)
    build_report(store, by="model")  # the words are left for the first search
    with sqlite3.connect(store.index.path) as db:  # an index that refuses the words
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON messages BEGIN "
            "SELECT RAISE(ABORT, 'no room for words'); END"
        )
    assert [h.session_id for h in search_sessions(store, "umbrella").hits] == [session.id]


def test_worker_processes_read_the_words(store, worker_processes):
    ids = {said(store, f"topic number{n}", f"more about number{n}").id for n in range(7)}
    (store.root / "broken.json").write_text("{nope")
    drop_index(store)
    result = search_sessions(store, "topic")  # requests, then words, from nothing
    assert len(worker_processes) == 4  # two for the requests, two for the words
    assert {h.session_id for h in result.hits} == ids and all(h.hits == 2 for h in result.hits)
    assert len(result.warnings) == 1 and "broken.json" in result.warnings[0]
    assert [h.hits for h in search_sessions(store, "number3").hits] == [4]


def test_an_index_of_an_older_schema_is_rebuilt(store):
    session = said(store, "migrating the index")
    with sqlite3.connect(store.index.path) as db:
        db.execute("DROP TABLE texts")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    assert [h.session_id for h in search_sessions(store, "migrating").hits] == [session.id]


def test_cli_search_piped_json_and_no_match(home, mamba, server):
    assert mamba("run", "where did I put the spare keys").code == 0
    assert mamba("run", "unrelated question").code == 0
    piped = run_mamba("sessions", "search", "spare", "keys", home=home)
    assert piped.code == 0
    [line] = piped.stdout.splitlines()
    short, _updated, title, snippet = line.split("\t")
    assert title == "where did I put the spare keys"
    assert "spare keys" in snippet and HIT_START not in snippet
    found = run_mamba("sessions", "search", "spare", "--json", home=home)
    [hit] = found.json()
    assert hit["id"].startswith(short) and hit["matching_messages"] == 2
    # "spare" is in half the messages: no weight, and a rank of 0 (not -0.0)
    assert '"rank": 0.0' in found.stdout
    assert hit["snippet"].endswith("where did I put the spare keys")
    none = run_mamba("sessions", "search", "zebra", home=home)
    assert none.code == 0 and none.stdout == "" and "no session matches" in none.stderr
    bad = run_mamba("sessions", "search", "keys", "--since", "yesterday-ish", home=home)
    assert bad.code == 2 and bad.stderr.startswith("mamba: --since:")


def test_chat_sessions_search_and_resume(home, server):
    first = run_mamba(
        "run", "-m", "openai/gpt-4o", "--base-url", server.base_url, "the orange lighthouse",
        home=home,
    )  # fmt: skip
    assert first.code == 0
    long = "the lighthouse " + " ".join(["keeper"] * 12) + " and more words " * 8
    assert run_mamba("run", "-m", "openai/gpt-4o", "--base-url", server.base_url, long,
                     home=home).code == 0  # fmt: skip
    env = mamba_env(home, TERM="xterm-256color")
    term = Terminal(
        [str(MAMBA), "chat", "-m", "openai/gpt-4o", "--base-url", server.base_url],
        env,
        str(home / "work"),
    )
    try:
        term.wait_for("/help for commands")
        term.enter("/sessions search lighthouse")
        found = term.wait_for(r"  ([0-9a-f]{8})  the orange lighthouse").group(1)
        term.wait_for(r"orange lighthouse\n[\s\S]*/resume ID opens one")
        assert "\x1b[1mlighthouse" in term.raw.decode(errors="replace")
        # A long match wraps inside its indent, every line within the terminal's width.
        screen = term.text().splitlines()
        listed = screen[screen.index("› /sessions search lighthouse") + 1 :]
        listed = listed[: next(i for i, line in enumerate(listed) if "/resume ID" in line)]
        assert all(line.startswith("  ") for line in listed)
        assert sum(line.startswith(" " * 12) for line in listed) >= 3  # the long one wraps
        term.enter(f"/resume {found}")
        term.wait_for(f"resumed session {found}")
        term.enter("/sessions search nothing-like-it")
        term.wait_for("no session mentions nothing-like-it")
    finally:
        term.close()
