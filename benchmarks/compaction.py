"""Planning a compaction of a long history, without the model request.

    python benchmarks/compaction.py [--messages 10000] [--runs 15]

Builds a history of user turns with tool exchanges, adds it to a `ContextManager` (each
message counted once, timed apart), then times planning each strategy (`preview()`: which
units go, tokens before and after). Budget: at most 50 ms for 10,000 messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time

from mamba_agents.context import STRATEGIES, CompactionConfig, ContextManager
from mamba_agents.messages import Message, ToolCall

BUDGET_MS = 50.0


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


if __name__ == "__main__":
    main()
