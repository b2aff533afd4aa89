"""`mamba usage`: totals match the session files, time zones, grouping, filters, formats,
prices, damaged files, concurrent writers and a rebuilt index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime

import pytest
from conftest import drop_index, run_mamba, session_files

from mamba_agents.config import AgentSettings
from mamba_agents.messages import Message, Usage
from mamba_agents.store import RequestSum, Session, SessionStore
from mamba_agents.tokens import CostEstimator, UsageTracker
from mamba_agents.usage import build_report

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp()


def stamp(text: str) -> str:
    return (
        datetime.fromisoformat(text)
        .astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def stamp_epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def add_request(
    session: Session,
    when: str,
    model: str = "openai/gpt-4o",
    tokens=(1000, 100),
    cache=(0, 0),
    cost: float | None = None,
    source: str | None = None,
) -> None:
    """A request as the engine records it: priced when made, unless `cost` and `source`
    say what it cost."""
    usage = Usage(tokens[0], tokens[1], cache[0], cache[1])
    if cost is None:
        cost, source = CostEstimator(AgentSettings.defaults()).cost_of(usage, model)
    answer = Message(
        role="assistant",
        content="ok",
        model=model,
        usage=usage,
        cost_usd=cost,
        cost_source=source or "estimated",
        created_at=stamp(when),
    )
    session.add_state(
        parent_id=session.head,
        new_messages=[Message(role="user", content="q", created_at=stamp(when)), answer],
        model=model,
    )


@pytest.fixture
def store(tmp_path) -> SessionStore:
    return SessionStore(tmp_path / "sessions")


def report(store, **kwargs):
    return build_report(store, AgentSettings.defaults(), now=NOW, **kwargs)


def test_day_boundaries_follow_the_time_zone(store):
    session = Session(cwd="/w")
    add_request(session, "2026-11-20T23:30:00+00:00")
    add_request(session, "2026-11-20T18:45:00+00:00")
    store.save(session)
    assert [r.key for r in report(store, timezone="UTC").rows] == ["2026-11-20"]
    assert [(r.key, r.totals.requests) for r in report(store, timezone="Europe/Berlin").rows] == [
        ("2026-11-20", 1),
        ("2026-11-21", 1),
    ]
    # India is UTC+5:30: 18:45Z is 00:15 the next day.
    assert [r.key for r in report(store, timezone="Asia/Kolkata").rows] == ["2026-11-21"]
    with pytest.raises(Exception, match="unknown time zone"):
        report(store, timezone="Mars/Olympus")


def test_week_and_month_boundaries(store):
    session = Session()
    for day in ("2026-11-01", "2026-11-02", "2026-10-31"):  # Sunday, Monday, Saturday
        add_request(session, f"{day}T12:00:00+00:00")
    store.save(session)
    monday = report(store, by="week", since="2026-10-01", timezone="UTC")
    assert [(r.key, r.totals.requests) for r in monday.rows] == [
        ("2026-10-26", 2),
        ("2026-11-02", 1),
    ]
    sunday = report(store, by="week", since="2026-10-01", timezone="UTC", start_of_week="sunday")
    assert [(r.key, r.totals.requests) for r in sunday.rows] == [
        ("2026-10-25", 1),
        ("2026-11-01", 2),
    ]
    months = report(store, by="month", timezone="UTC")
    assert [(r.key, r.totals.requests) for r in months.rows] == [("2026-10", 1), ("2026-11", 2)]


def test_filters_and_default_window(store):
    old, new = Session(cwd="/home/me/proj"), Session(cwd="/home/me/other")
    add_request(old, "2026-09-01T10:00:00+00:00", model="openai/gpt-4o-mini")
    add_request(new, "2026-11-20T10:00:00+00:00", model="openai/gpt-4o")
    add_request(new, "2026-11-21T10:00:00+00:00", model="anthropic/claude-sonnet-4-5")
    store.save(old)
    store.save(new)
    assert report(store, timezone="UTC").totals.requests == 2  # last 30 days by default
    assert report(store, since="2026-01-01", timezone="UTC").totals.requests == 3
    assert report(store, by="model").totals.requests == 3  # no default window
    assert report(store, since="2d").totals.requests == 2
    assert report(store, since="2026-11-21", timezone="UTC").totals.requests == 1
    assert (
        report(store, since="2026-01-01", until="2026-11-20", timezone="UTC").totals.requests == 2
    )
    assert report(store, by="model", model="gpt-4o*").totals.requests == 2
    assert report(store, by="model", model="openai/gpt-4o").totals.requests == 1
    assert report(store, by="model", session=old.id[:6]).totals.requests == 1
    assert report(store, by="model", cwd="/home/me/proj").totals.requests == 1
    assert report(store, by="model", cwd="/home/me").totals.requests == 3
    assert report(store, by="model", cwd="/home/m").totals.requests == 0
    with pytest.raises(Exception, match="--since: expected a date"):
        report(store, since="last tuesday")


def test_prices_cache_tokens_reported_unpriced_and_local(store, home):
    session = Session()
    add_request(
        session,
        "2026-11-21T10:00:00+00:00",
        "openai/gpt-4o",
        (1_000_000, 1_000_000),
        cache=(1_000_000, 0),
    )
    add_request(
        session, "2026-11-21T10:01:00+00:00", "openai/gpt-4o", (10, 10), cost=0.5, source="reported"
    )
    add_request(session, "2026-11-21T10:02:00+00:00", "openai/not-a-real-model", (300, 200))
    add_request(session, "2026-11-21T10:03:00+00:00", "ollama/llama3.2", (5000, 5000))
    store.save(session)
    result = report(store, by="model")
    rows = {r.key: r.totals for r in result.rows}
    # gpt-4o: $2.50/M input, $10/M output, $1.25/M cached input.
    assert rows["openai/gpt-4o"].cost_estimated_usd == pytest.approx(2.5 + 10 + 1.25)
    assert rows["openai/gpt-4o"].cost_reported_usd == pytest.approx(0.5)
    assert rows["openai/not-a-real-model"].unpriced_tokens == 500
    assert rows["openai/not-a-real-model"].cost_usd == 0
    assert rows["ollama/llama3.2"].cost_usd == 0 and rows["ollama/llama3.2"].unpriced_tokens == 0
    user_config = home / "config" / "mamba" / "config.toml"
    user_config.parent.mkdir(parents=True, exist_ok=True)
    user_config.write_text('[models."ollama/llama3.2"]\ninput_price = 1.0\noutput_price = 2.0\n')
    # A price configured later does not change what a request cost when it ran...
    again = build_report(store, AgentSettings(), by="model", now=NOW)
    assert next(r for r in again.rows if r.key == "ollama/llama3.2").totals.cost_usd == 0
    # ...unless the report is asked to reprice.
    priced = build_report(store, AgentSettings(), by="model", now=NOW, reprice=True)
    local = next(r for r in priced.rows if r.key == "ollama/llama3.2").totals
    assert local.cost_estimated_usd == pytest.approx(5000 * 1e-6 + 5000 * 2e-6)
    assert next(r for r in priced.rows if r.key == "openai/gpt-4o").totals.cost_reported_usd == 0.5


def test_fork_copies_are_not_counted_twice_and_deleting_removes(store):
    session = Session()
    add_request(session, "2026-11-21T09:00:00+00:00")
    first = session.head
    add_request(session, "2026-11-21T09:30:00+00:00")
    store.save(session)
    fork = session.fork(first)
    add_request(fork, "2026-11-21T10:00:00+00:00")
    store.save(fork)
    assert report(store).totals.requests == 3
    by_session = {r.key: r.totals.requests for r in report(store, by="session").rows}
    assert by_session == {session.id: 2, fork.id: 1}
    store.delete(session.id)
    assert report(store).totals.requests == 1


def test_damaged_file_is_named_and_skipped(store):
    session = Session()
    add_request(session, "2026-11-21T10:00:00+00:00")
    store.save(session)
    (store.root / "broken.json").write_text("{nope")
    result = report(store)
    assert result.totals.requests == 1
    assert len(result.warnings) == 1 and "broken.json" in result.warnings[0]
    assert len(report(store).warnings) == 1  # still reported on the next run


def test_rebuilt_or_deleted_index_gives_identical_numbers(store):
    for index in range(12):
        session = Session(cwd=f"/p{index % 3}")
        for hour in range(index % 4 + 1):
            add_request(
                session,
                f"2026-11-{10 + index}T{hour + 8:02}:00:00+00:00",
                model=["openai/gpt-4o", "openai/gpt-4o-mini"][index % 2],
            )
        store.save(session)
    before = report(store, by="session").totals.to_dict()
    assert report(store, rebuild=True, by="session").totals.to_dict() == before
    for name in (".index.sqlite3", ".index.sqlite3-wal", ".index.sqlite3-shm"):
        (store.root / name).unlink(missing_ok=True)
    assert report(store, by="session").totals.to_dict() == before
    assert before["requests"] == sum(i % 4 + 1 for i in range(12))


def test_file_changed_behind_the_index_is_reindexed(store):
    session = Session()
    add_request(session, "2026-11-21T10:00:00+00:00")
    store.save(session)
    other = SessionStore(store.root)  # another process's view, without telling the index
    copy = other.load(session.id)
    add_request(copy, "2026-11-21T11:00:00+00:00")
    path = other.path_for(copy.id)
    path.write_text(copy.to_json())
    assert report(store).totals.requests == 2


def test_rows_made_on_save_and_from_the_file_are_the_same(store):
    """A save indexes the session's messages; a rebuild reads the file's records: both make
    the same rows, odd values included (no model, no cost, zero usage, cache tokens)."""
    session = Session(cwd="/w")
    add_request(session, "2026-11-21T09:00:00+00:00", cache=(30, 7), cost=0.25, source="reported")
    odd = Message(
        role="assistant", content="?", usage=Usage(), created_at=stamp("2026-11-21T09:05:00+00:00")
    )
    session.add_state(parent_id=session.head, new_messages=[Message.user("q"), odd])
    no_usage = Message(role="assistant", content="none")
    session.add_state(parent_id=session.head, new_messages=[Message.user("q"), no_usage])
    store.save(session)
    fork = session.fork(session.head)
    add_request(fork, "2026-11-21T10:00:00+00:00", "openai/gpt-4o-mini", (7, 3))
    store.save(fork)

    def sums():
        return {
            by: sorted(store.index.request_sums(by, bucket_seconds=3600), key=repr)
            for by in ("time", "session", "model")
        }

    saved = sums()
    store.index.refresh(rebuild=True)
    assert sums() == saved
    by_session = {(s.key, s.model): s for s in saved["session"]}
    assert by_session[(session.id, "openai/gpt-4o")] == RequestSum(
        session.id, "openai/gpt-4o", "reported", 1, Usage(1000, 100, 30, 7), 0.25
    )
    assert by_session[(session.id, "")] == RequestSum(session.id, "", "unpriced", 1, Usage(), 0.0)
    assert by_session[(fork.id, "openai/gpt-4o-mini")].usage == Usage(7, 3)
    # The fork's copies count for its origin only; a message without usage is no request.
    assert len(by_session) == 3
    hours = {s.key for s in saved["time"]}
    assert hours == {
        int(stamp_epoch("2026-11-21T09:00:00+00:00")) // 3600,
        int(stamp_epoch("2026-11-21T10:00:00+00:00")) // 3600,
    }
    assert {s.key for s in saved["model"]} == {None}
    totals = report(store, by="model").totals
    assert totals.usage == Usage(1007, 103, 30, 7)
    assert totals.to_dict() == {
        "models": ["", "openai/gpt-4o", "openai/gpt-4o-mini"],
        "requests": 3,
        "input_tokens": 1007,
        "output_tokens": 103,
        "cache_read_tokens": 30,
        "cache_write_tokens": 7,
        "total_tokens": 1147,
        "cost_usd": 0.25 + totals.cost_estimated_usd,
        "cost_reported_usd": 0.25,
        "cost_estimated_usd": totals.cost_estimated_usd,
        "unpriced_tokens": 0,
    }


def test_a_session_row_agrees_with_the_usage_tracker_of_its_messages(store):
    session = Session()
    add_request(session, "2026-11-21T09:00:00+00:00", cache=(500, 20))
    add_request(
        session,
        "2026-11-21T09:01:00+00:00",
        "openai/gpt-4o-mini",
        (40, 4),
        cost=0.5,
        source="reported",
    )
    store.save(session)
    (row,) = report(store, by="session").rows
    summary = UsageTracker.from_messages(session.messages.values()).get_summary()
    assert row.totals.usage == summary.total.usage
    assert row.totals.total_tokens == summary.total.total_tokens == 1000 + 100 + 520 + 44
    assert row.totals.requests == summary.total.request_count == 2


def test_request_sums_filter_by_time_session_and_folder(store):
    inside, nested, beside = (
        Session(cwd="/home/me/proj"),
        Session(cwd="/home/me/proj/sub"),
        Session(cwd="/home/me/project"),
    )
    for session in (inside, nested, beside):
        add_request(session, "2026-11-20T10:00:00+00:00")
        add_request(session, "2026-11-21T10:00:00+00:00")
        store.save(session)
    store.index.refresh()

    def requests(**filters):
        return sum(s.requests for s in store.index.request_sums("model", **filters))

    assert requests() == 6
    assert requests(start=stamp_epoch("2026-11-21T00:00:00+00:00")) == 3
    assert requests(stop=stamp_epoch("2026-11-21T00:00:00+00:00")) == 3
    assert (
        requests(
            start=stamp_epoch("2026-11-20T10:00:00+00:00"),
            stop=stamp_epoch("2026-11-20T10:00:01+00:00"),
        )
        == 3
    )
    assert requests(session_prefix=inside.id[:8]) == 2
    assert requests(cwd="/home/me/proj") == 4  # the folder and below it, not /home/me/project
    assert requests(cwd="/home/me/proj/") == 4
    assert requests(cwd="/") == 6
    labels = store.index.session_labels()
    assert labels[beside.id] == ("q", "/home/me/project", beside.updated_at)
    with pytest.raises(ValueError, match="group_by"):
        store.index.request_sums("day")


def test_sums_by_time_from_the_buckets_are_those_of_the_requests(store):
    """A report by time reads the sums of whole quarter hours from `buckets` and those of a
    quarter hour its start or stop cuts from the requests: the same as summing them all."""
    session = Session(cwd="/w")
    nine = stamp_epoch("2026-11-21T09:00:00+00:00")
    for minute in (0, 7, 14, 16, 44, 75):
        model = "openai/gpt-4o-mini" if minute in (7, 44) else "openai/gpt-4o"
        when = datetime.fromtimestamp(nine + minute * 60, UTC).isoformat()
        add_request(session, when, model, (minute + 1, 2), cost=0.25, source="reported")
    store.save(session)

    def both(start=None, stop=None):
        """The sums from the buckets, and (a folder filter skips them) from the requests."""
        index = store.reports().index
        sums = [index.request_sums("time", start=start, stop=stop, cwd=cwd) for cwd in (None, "/")]
        return [sorted(found, key=lambda s: (s.key, s.model)) for found in sums]

    for start, stop in [
        (None, None),
        (nine, None),  # whole quarter hours
        (nine + 15 * 60, nine + 75 * 60),
        (nine + 3 * 60, None),  # a cut quarter hour at the start
        (None, nine + 50 * 60),  # at the stop
        (nine + 3 * 60, nine + 50 * 60),  # both
        (nine + 3 * 60, nine + 10 * 60),  # both in the same one
        (nine + 50 * 60, nine + 3 * 60),  # nothing
    ]:
        buckets, requests = both(start, stop)
        assert buckets == requests, (start, stop)
    assert sum(s.requests for s in both(nine + 3 * 60, nine + 50 * 60)[0]) == 4
    add_request(session, "2026-11-21T09:20:00+00:00", cost=0.25, source="reported")
    store.save(session)  # the save adds its request to the sums
    buckets, requests = both()
    assert buckets == requests and sum(s.requests for s in buckets) == 7


def test_saves_move_the_quarter_hour_sums_by_what_they_write(store):
    """A save takes the requests it replaces out of the sums and adds those it writes, so
    the sums stay those of the requests without being made again: a turn added, a session
    written whole by another process, a copy of a session's messages under another id."""
    index = store.reports().index
    session = Session(cwd="/w")
    for when in ("2026-11-21T09:00:00+00:00", "2026-11-21T09:20:00+00:00"):
        add_request(session, when, cost=0.5, source="reported")
    store.save(session)

    def sums_of_the_requests():
        made = sorted(index.request_sums("time"), key=lambda s: (s.key, s.model))
        whole = sorted(index.request_sums("time", cwd="/"), key=lambda s: (s.key, s.model))
        assert made == whole
        return sum(s.requests for s in made), round(sum(s.cost for s in made), 6)

    def saved(into: SessionStore, session: Session) -> None:
        into.save(session)
        info = into.path_for(session.id).stat()
        assert index.is_current(into.path_for(session.id), (info.st_mtime_ns, info.st_size))
        with index.connect() as db:  # the sums are still there: not to be made again
            assert db.execute("SELECT 1 FROM meta WHERE key = 'buckets'").fetchone()

    assert sums_of_the_requests() == (2, 1.0)  # the first report makes the sums
    add_request(session, "2026-11-21T09:25:00+00:00", "openai/gpt-4o-mini", cost=0.25)
    saved(store, session)
    assert sums_of_the_requests() == (3, 1.25)
    elsewhere = SessionStore(store.root)  # another process writes the session whole
    again = elsewhere.load(session.id)
    add_request(again, "2026-11-21T10:40:00+00:00", cost=0.5, source="reported")
    saved(elsewhere, again)
    assert sums_of_the_requests() == (4, 1.75)
    other = str(uuid.uuid4())
    copy = Session.from_json(again.to_json().replace(session.id, other), store.path_for(other))
    saved(store, copy)  # the same message ids under another session: they count once
    assert sums_of_the_requests() == (4, 1.75)
    saved(SessionStore(store.root), elsewhere.load(session.id))
    assert sums_of_the_requests() == (4, 1.75)


def test_worker_processes_build_and_update_the_index(store, worker_processes, monkeypatch):
    """Many files are read by worker processes: from nothing, again (--rebuild), when some
    changed, and with a message id in two files (it counts once); the numbers are those of
    an index that saves and a refresh in this process made."""
    from mamba_agents.store import _usage_index

    monkeypatch.setattr(_usage_index, "BULK_FILES", 4)
    sessions = []
    for index in range(9):
        session = Session(cwd=f"/p{index % 3}")
        for hour in range(index % 4 + 1):
            add_request(session, f"2026-11-{10 + index}T{hour + 8:02}:00:00+00:00")
        store.save(session)
        sessions.append(session)
    (store.root / "broken.json").write_text("{nope")
    total = sum(i % 4 + 1 for i in range(9))

    def same(expected, **kwargs):
        for by in ("day", "session"):
            result = report(store, by=by, **kwargs)
            assert result.totals.to_dict() == expected[by].totals.to_dict()
            assert [r.totals.to_dict() for r in result.rows] == [
                r.totals.to_dict() for r in expected[by].rows
            ]
            assert result.warnings == expected[by].warnings
            kwargs.pop("rebuild", None)

    expected = {by: report(store, by=by) for by in ("day", "session")}
    assert expected["day"].totals.requests == total and len(expected["day"].warnings) == 1
    drop_index(store)
    assert not worker_processes  # nothing so far had enough files to read
    same(expected)  # from nothing, in worker processes
    assert len(worker_processes) == 2
    same(expected, rebuild=True)
    assert len(worker_processes) == 4
    add_request(sessions[8], "2026-11-21T11:00:00+00:00")
    store.save(sessions[8])  # a save after a build from nothing
    twin = store.load(sessions[0].id)
    twin.id = "00000000-0000-4000-8000-000000000001"  # the same messages: counted once
    store.save(twin)
    assert report(store, by="day").totals.requests == total + 1
    store.delete(twin.id)
    for session in sessions[:5]:  # changed behind the index: read again by the workers
        add_request(session, "2026-11-21T11:00:00+00:00")
        store.path_for(session.id).write_text(session.to_json())
    changed = report(store, by="day")
    assert len(worker_processes) == 6
    assert changed.totals.requests == total + 6
    assert changed.warnings == expected["day"].warnings
    copied = json.loads(store.path_for(sessions[0].id).read_text())
    copied["id"] = "00000000-0000-4000-8000-000000000000"  # a copy by hand: counted once
    store.path_for(copied["id"]).write_text(json.dumps(copied))
    assert report(store, by="day").totals.to_dict() == changed.totals.to_dict()
    for session in sessions[5:]:  # ...also beside files the workers read again
        os.utime(store.path_for(session.id), ns=(1, 1))
    copied["id"] = "00000000-0000-4000-8000-000000000002"
    store.path_for(copied["id"]).write_text(json.dumps(copied))
    beside = report(store, by="day")
    assert beside.totals.to_dict() == changed.totals.to_dict()
    assert beside.index_error is None  # the index on disk took it
    assert len(worker_processes) == 8
    drop_index(store)  # ...and when the index is built from nothing
    assert report(store, by="day").totals.to_dict() == changed.totals.to_dict()
    assert len(worker_processes) == 10


WRITER = textwrap.dedent("""
    import sys
    from mamba_agents.messages import Message, Usage
    from mamba_agents.store import Session, SessionStore
    store = SessionStore(sys.argv[1])
    for i in range(25):
        s = Session()
        s.add_state(parent_id=None, new_messages=[Message.user("q"), Message(
            role="assistant", content="a", model="openai/gpt-4o", usage=Usage(100, 10),
            cost_usd=0.00035, cost_source="estimated")])
        store.save(s)
""")


def test_two_processes_saving_at_once_lose_nothing(store):
    store.root.mkdir(parents=True)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(store.root)]) for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    result = build_report(store, AgentSettings.defaults(), by="model")
    assert result.totals.requests == 50 and result.totals.input_tokens == 5000


def test_cli_totals_match_the_session_files(mamba, server, home):
    server.add(
        {
            "text": "a",
            "usage": {
                "prompt_tokens": 1200,
                "completion_tokens": 80,
                "prompt_tokens_details": {"cached_tokens": 200},
            },
        },
        {"text": "b", "usage": {"prompt_tokens": 50, "completion_tokens": 5, "cost": 0.25}},
    )
    mamba("run", "one", model="openai/gpt-4o")
    mamba("run", "two", model="openai/gpt-4o-mini")
    mamba("run", "three", model="ollama/llama3.2")
    data = run_mamba("usage", "--json", "--breakdown", home=home).json()
    assert data["report"] == "daily" and len(data["rows"]) == 1
    messages = [
        m
        for path in session_files(home)
        for m in json.loads(path.read_text())["messages"]
        if m["role"] == "assistant"
    ]
    totals = data["totals"]
    assert totals["requests"] == len(messages) == 3
    for field in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
        assert totals[field] == sum(m["usage"][field] for m in messages)
    assert totals["cost_usd"] == pytest.approx(sum(m["cost_usd"] for m in messages))
    assert totals["cost_reported_usd"] == pytest.approx(0.25)
    assert {b["model"] for b in data["rows"][0]["breakdown"]} == {
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
        "ollama/llama3.2",
    }
    # CSV with --breakdown: one line per day and model, so each column sums to the total.
    import csv
    import io

    text = run_mamba("usage", "--format", "csv", "--breakdown", home=home).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    *parts, total = rows
    assert sorted(r["model"] for r in parts) == [
        "ollama/llama3.2",
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
    ]
    assert total["key"] == "total"
    assert sum(int(r["requests"]) for r in parts) == int(total["requests"]) == 3
    assert sum(int(r["input_tokens"]) for r in parts) == int(total["input_tokens"])


def test_cli_formats(mamba, home):
    mamba("run", "one")
    table = run_mamba("usage", home=home)
    assert table.code == 0 and table.stdout.splitlines()[0].startswith("Date")
    assert table.stdout.splitlines()[-1].startswith("Total")
    assert "\033[" not in table.stdout
    csv_lines = run_mamba("usage", "--format", "csv", home=home).stdout.splitlines()
    assert csv_lines[0].startswith("key,model,requests") and csv_lines[-1].startswith("total,")
    ccusage = run_mamba("usage", "--format", "ccusage", home=home).json()
    day = ccusage["daily"][0]
    assert set(day) == {
        "date",
        "inputTokens",
        "outputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
        "totalTokens",
        "totalCost",
        "modelsUsed",
        "modelBreakdowns",
    }
    assert set(ccusage["totals"]) == {
        "inputTokens",
        "outputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
        "totalTokens",
        "totalCost",
    }
    chart = run_mamba("usage", "--chart", "tokens", home=home, env={"COLUMNS": "60"})
    assert "#" in chart.stdout and "█" not in chart.stdout
    assert max(len(line) for line in chart.stdout.splitlines()) <= 60
    tiny = run_mamba("usage", "--chart", home=home, env={"COLUMNS": "40"}).stdout.splitlines()
    assert "#" not in "".join(tiny) and tiny[-1].startswith("total  $")
    narrow = run_mamba("usage", home=home, env={"COLUMNS": "70"}).stdout.splitlines()[0]
    assert "Cache Read" not in narrow and "Cost (USD)" in narrow
    # The most columns that fit (all of them take 107 here), never a line wider.
    for columns, dropped in ((120, set()), (100, {"source"}), (70, {"Input", "source"})):
        lines = run_mamba("usage", home=home, env={"COLUMNS": str(columns)}).stdout.splitlines()
        assert max(len(line) for line in lines) <= columns
        assert {"Input", "source"} - set(lines[0].split()) == dropped
    bad = run_mamba("usage", "--format", "ccusage", "--by", "week", home=home)
    assert bad.code == 2 and "ccusage" in bad.stderr
    assert run_mamba("usage", "tokens", home=home).code == 2
    assert run_mamba("usage", "--by", "year", home=home).code == 2


def test_models_info(home):
    info = run_mamba("models", "info", "gpt-4o-mini", "--json", home=home).json()
    assert info["model"] == "openai/gpt-4o-mini" and info["transport"] == "native"
    assert info["price_per_million"]["input"] == pytest.approx(0.15)
    assert info["context_window"] == 128000 and info["source"] == "litellm"
    local = run_mamba("models", "info", "ollama/llama3.2", home=home).stdout
    assert "local model: free unless a price is configured" in local
    unknown = run_mamba("models", "info", "openai/nope-9", "--json", home=home).json()
    assert unknown["priced"] is False and unknown["source"] == "unknown"


def test_titles_and_model_names_in_the_table_are_shown_not_obeyed(store):
    from mamba_cli.usage_render import table

    session = Session(cwd="/w", title="fix \x1b]0;pwned\x07 the \x9b2J bug")
    add_request(session, "2026-11-21T10:00:00+00:00", model="openai/\x1b[31mred")
    store.save(session)
    for by in ("session", "model"):
        text = table(report(store, by=by), width=160, breakdown=True)
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    shown = table(report(store, by="session"), width=160)
    assert "^[]0;pwned^G" in shown


def test_a_request_keeps_the_price_of_when_it_ran_wherever_the_report_is_made(mamba, server, home):
    config = home / "config" / "mamba" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[models."openai/house-model"]\ninput_price = 2.0\noutput_price = 8.0\n')
    server.add({"text": "a", "usage": {"prompt_tokens": 1000, "completion_tokens": 500}})
    assert mamba("run", "one", "--no-tools", model="openai/house-model").code == 0
    config.unlink()  # the price is gone today, and another folder knows none either
    elsewhere = home / "elsewhere"
    elsewhere.mkdir()
    expected = 1000 * 2e-6 + 500 * 8e-6
    for folder in (home / "work", elsewhere):
        totals = run_mamba("usage", "--json", home=home, cwd=folder).json()["totals"]
        assert totals["cost_usd"] == pytest.approx(expected) and totals["unpriced_tokens"] == 0
    [listed] = run_mamba("sessions", "list", "--json", home=home).json()
    assert listed["cost_usd"] == pytest.approx(expected)  # the two reports agree
    repriced = run_mamba("usage", "--json", "--reprice", home=home).json()["totals"]
    assert repriced["cost_usd"] == 0 and repriced["unpriced_tokens"] == 1500
