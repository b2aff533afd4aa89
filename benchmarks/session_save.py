"""Time to save one more turn of a 2,000-message session (budget: 20 ms).

python benchmarks/session_save.py [--messages 2000] [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from mamba_agents.messages import Message, Usage
from mamba_agents.store import Session, SessionStore

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    store = SessionStore(tempfile.mkdtemp(prefix="mamba-save-"))
    session = Session()
    for index in range(args.messages // 2):
        add_turn(session, index)
    path = store.save(session)
    times = []
    for run in range(args.runs):
        add_turn(session, args.messages + run)
        started = time.perf_counter()
        store.save(session)
        times.append(time.perf_counter() - started)
    cold = SessionStore(store.root)
    started = time.perf_counter()
    loaded = cold.load(session.id)
    load_time = time.perf_counter() - started
    add_turn(loaded, 0)
    started = time.perf_counter()
    cold.save(loaded)
    first_save = time.perf_counter() - started
    size = path.stat().st_size / 1e6
    print("| measure | value |\n|---|---|")
    print(
        f"| save one turn, {args.messages}-message session (median of {args.runs}) "
        f"| {statistics.median(times) * 1000:.1f} ms |"
    )
    print(f"| load the session | {load_time * 1000:.1f} ms |")
    print(f"| first save after loading | {first_save * 1000:.1f} ms |")
    print(f"| file size | {size:.2f} MB |")


if __name__ == "__main__":
    main()
