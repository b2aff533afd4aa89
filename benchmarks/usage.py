"""`mamba usage` and `mamba sessions search` over a generated history: 100,000 model
requests in 5,000 sessions.

    python benchmarks/usage.py [--sessions 5000] [--requests 20] [--runs 5]

Writes the history as session files in the documented format (spread over 90 days, several
models, prompts and answers of a dozen words drawn from a 2,000-word vocabulary), then
measures whole-process wall time of: the first report (the index is built from the files:
cold), `mamba usage --rebuild`, the warm daily report, `--since 7d`, `--by session`, and warm
searches for a common word, a rare one, one in nearly every message, and a two-word phrase.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from _measure import mamba_command, measure

from mamba_agents.messages import Message, Usage
from mamba_agents.store import Session

VOCABULARY = [f"w{n}" for n in range(2000)]
MODELS = ["openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "ollama/llama3.2"]


def words(rng: random.Random, count: int = 12) -> str:
    """A sentence of vocabulary words; low-numbered words are the common ones."""
    return " ".join(VOCABULARY[int(rng.paretovariate(1.2)) % len(VOCABULARY)] for _ in range(count))


def generate(folder: Path, sessions: int, requests: int) -> None:
    rng = random.Random(3)
    folder.mkdir(parents=True)
    now = time.time()
    for _ in range(sessions):
        start = now - rng.uniform(0, 90 * 86400)
        session = Session(cwd=f"/home/user/project{rng.randint(1, 20)}")
        model = rng.choice(MODELS)
        for turn in range(requests):
            when = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start + turn * 60))
            usage = Usage(rng.randint(500, 20000), rng.randint(50, 2000), rng.randint(0, 5000), 0)
            session.add_state(
                parent_id=session.head,
                model=model,
                new_messages=[
                    Message(role="user", content=words(rng), created_at=when),
                    Message(
                        role="assistant",
                        content=words(rng, 30),
                        model=model,
                        usage=usage,
                        cost_usd=0.001,
                        cost_source="estimated",
                        duration_ms=800,
                        created_at=when,
                    ),
                ],
            )
        (folder / f"{session.id}.json").write_text(session.to_json())


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    import subprocess

    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mamba-usage-"))
    started = time.perf_counter()
    generate(home / "sessions", args.sessions, args.requests)
    print(
        f"generated {args.sessions:,} sessions, {args.sessions * args.requests:,} requests "
        f"in {time.perf_counter() - started:.1f} s\n"
    )
    env = dict(os.environ, MAMBA_HOME=str(home), HOME=str(home))
    mamba = mamba_command()
    cold = timed([mamba, "usage"], env)
    rebuild = timed([mamba, "usage", "--rebuild"], env)
    print("| report | median wall |\n|---|---|")
    print(f"| first report, index built from the files (cold) | {cold:.2f} s |")
    print(f"| `mamba usage --rebuild` | {rebuild:.2f} s |")
    for label, extra in (
        ("`mamba usage` (warm)", []),
        ("`mamba usage --since 7d`", ["--since", "7d"]),
        ("`mamba usage --by session`", ["--by", "session"]),
        ("`mamba usage --by model --breakdown`", ["--by", "model", "--breakdown"]),
    ):
        figures = measure([mamba, "usage", *extra], args.runs, env)
        print(f"| {label} | {figures['wall']:.2f} s ({figures['rss']:.0f} MB) |")
    for label, query in (
        ("`mamba sessions search w10` (a common word: 1 message in 10)", ["w10"]),
        ("`mamba sessions search w1500` (a rare word)", ["w1500"]),
        ("`mamba sessions search w1` (in nearly every message: worst case)", ["w1"]),
        ('`mamba sessions search "w2 w3"` (a phrase)', ['"w2 w3"']),
    ):
        figures = measure([mamba, "sessions", "search", *query], args.runs, env)
        print(f"| {label} | {figures['wall']:.2f} s ({figures['rss']:.0f} MB) |")


if __name__ == "__main__":
    main()
