"""Planning a compaction of a long history, without the model request, and saving it.

    python benchmarks/compaction.py [--messages 10000] [--runs 15]

Builds a history of user turns with tool exchanges, adds it to a `ContextManager` (each
message counted once, timed apart), then times planning each strategy (`preview()`: which
units go, tokens before and after). Budget: at most 50 ms for 10,000 messages.

Then saves that history as a session file and times saving a compaction state of it (the
summarising strategy's result: a summary message, a receipt naming every folded message),
beside saving one more ordinary turn of the same session as the baseline. Budget: at most
30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time

from mamba_agents.context import STRATEGIES, CompactionConfig, ContextManager
from mamba_agents.messages import Message, ToolCall
from mamba_agents.store import Session, SessionStore

BUDGET_MS = 50.0
SAVE_BUDGET_MS = 30.0


def history(count: int) -> list[Message]:
    rng = random.Random(0)
    messages = [Message.system("You are terse.")]
    turn = 0
    while len(messages) < count:
        turn += 1
        messages.append(Message.user(f"question {turn} " + "word " * rng.randint(5, 60)))
        if rng.random() < 0.5:
            call = ToolCall(f"c{turn}", "read_file", json.dumps({"path": f"f{turn}.py"}))
            messages.append(Message(role="assistant", tool_calls=(call,)))
            messages.append(Message.tool_result(call, "line\n" * rng.randint(5, 300)))
        messages.append(Message(role="assistant", content="answer " * rng.randint(5, 80)))
    return messages[:count]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    messages = history(args.messages)
    started = time.perf_counter()
    manager = ContextManager(CompactionConfig(preserve_recent_turns=3), window=128_000)
    manager.add_messages(messages)
    counted = (time.perf_counter() - started) * 1000
    print(f"{args.messages:,} messages, {manager.token_count:,} tokens")
    print(f"counting them once, as they are added: {counted:.0f} ms\n")
    print("| strategy | planning (median) | tokens after | budget |")
    print("|---|---|---|---|")
    for name in STRATEGIES:
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            result = asyncio.run(manager.preview(name))
            times.append((time.perf_counter() - started) * 1000)
        median = statistics.median(times)
        verdict = "within" if median <= BUDGET_MS else "over"
        print(f"| {name} | {median:.1f} ms | {result.tokens_after:,} | {verdict} |")
    saving(messages, manager, args.runs)


def session_of(messages: list[Message]) -> Session:
    """The history as a session: one state per user turn."""
    session = Session(model="openai/gpt-4o")
    turn: list[Message] = []
    for message in messages[1:]:
        if message.role == "user" and turn:
            session.add_state(parent_id=session.head, new_messages=turn, system="You are terse.")
            turn = []
        turn.append(message)
    session.add_state(parent_id=session.head, new_messages=turn, system="You are terse.")
    return session


def saving(messages: list[Message], manager: ContextManager, runs: int) -> None:
    """Median time to save a compaction state of the session, and an ordinary turn."""
    plan = asyncio.run(manager.preview("summarize_older"))
    folded = set(plan.removed_ids)
    kept = [m for m in messages[1:] if m.id not in folded]
    summary = Message(role="user", content="- Goals: " + "word " * 300, status="summary")
    receipt = {k: v for k, v in plan.to_dict().items() if k != "summary"}
    store = SessionStore(tempfile.mkdtemp(prefix="mamba-compaction-"))
    session = session_of(messages)
    path = store.save(session)
    compaction, turn = [], []
    for run in range(runs):
        head = session.head
        started = time.perf_counter()
        session.add_compaction(context=[summary, *kept], stored=[summary], receipt=receipt)
        store.save(session)
        compaction.append((time.perf_counter() - started) * 1000)
        session.head = head
        started = time.perf_counter()
        session.add_state(
            parent_id=session.head,
            new_messages=[Message.user(f"more {run}"), Message(role="assistant", content="ok")],
        )
        store.save(session)
        turn.append((time.perf_counter() - started) * 1000)
    median = statistics.median(compaction)
    verdict = "within" if median <= SAVE_BUDGET_MS else "over"
    print(f"\nsaving a {len(messages):,}-message session ({path.stat().st_size / 1e6:.1f} MB):\n")
    print("| what is saved | median | budget |")
    print("|---|---|---|")
    print(f"| a compaction state ({len(folded):,} messages folded) | {median:.1f} ms | {verdict} |")
    print(f"| one ordinary turn (baseline) | {statistics.median(turn):.1f} ms | |")


if __name__ == "__main__":
    main()
