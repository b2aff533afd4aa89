"""Time to save one more turn of a 2,000-message session (budget: 20 ms), in the session
files and in PostgreSQL (a server started as the tests start one; target: within 2× the
files).

python benchmarks/session_save.py [--messages 2000] [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mamba_agents.messages import Message, Usage
from mamba_agents.store import PostgresStore, Session, SessionStore, Store

TEXT = "A typical answer paragraph with some code: `def f(x): return x * 2`. " * 6


def add_turn(session: Session, index: int) -> None:
    session.add_state(
        parent_id=session.head,
        new_messages=[
            Message.user(f"question {index}: {TEXT[:120]}"),
            Message(
                role="assistant",
                content=TEXT,
                model="openai/gpt-4o",
                usage=Usage(1200 + index, 300),
                cost_usd=0.006,
                cost_source="estimated",
                duration_ms=900,
            ),
        ],
        model="openai/gpt-4o",
        system="You are helpful.",
    )


def measure_store(store: Store, reopen: Callable[[], Store], messages: int, runs: int) -> dict:
    """Save a session of `messages` messages, then time one more turn's save (median of
    `runs`), loading it in a fresh store, and the first save after that load."""
    session = Session()
    for index in range(messages // 2):
        add_turn(session, index)
    store.save(session)
    times = []
    for run in range(runs):
        add_turn(session, messages + run)
        started = time.perf_counter()
        store.save(session)
        times.append(time.perf_counter() - started)
    cold = reopen()
    started = time.perf_counter()
    loaded = cold.load(session.id)
    load_time = time.perf_counter() - started
    add_turn(loaded, 0)
    started = time.perf_counter()
    cold.save(loaded)
    first_save = time.perf_counter() - started
    return {"save": statistics.median(times), "load": load_time, "first": first_save}


def postgres_url() -> tuple[str, object] | None:
    """A fresh database on a PostgreSQL server started as the tests start one (None: no
    server binaries here)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from postgres_server import start_server

    server = start_server()
    if isinstance(server, str):
        print(f"PostgreSQL not measured: {server}")
        return None
    os.environ["PGPASSWORD"] = server.password
    return server.new_database(), server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="mamba-save-")
    results = {
        "session files": measure_store(
            SessionStore(folder), lambda: SessionStore(folder), args.messages, args.runs
        )
    }
    started = postgres_url()
    if started is not None:
        url, server = started
        with PostgresStore(url) as store:
            results["PostgreSQL"] = measure_store(
                store, lambda: PostgresStore(url), args.messages, args.runs
            )
        server.stop()  # type: ignore[attr-defined]
    files = results["session files"]["save"]
    print(
        f"| {args.messages}-message session | save one turn (median of {args.runs}) "
        "| × the files | load | first save after loading |"
    )
    print("|---|---|---|---|---|")
    for name, figures in results.items():
        print(
            f"| {name} | {figures['save'] * 1000:.1f} ms | {figures['save'] / files:.2f}× "
            f"| {figures['load'] * 1000:.1f} ms | {figures['first'] * 1000:.1f} ms |"
        )


if __name__ == "__main__":
    main()
