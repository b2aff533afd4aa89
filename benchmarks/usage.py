"""`mamba usage` and `mamba sessions search` over a generated history: 100,000 model
requests in 5,000 sessions.

    python benchmarks/usage.py [--sessions 5000] [--requests 20] [--runs 5] [--ccusage]

Writes the history as session files in the documented format (spread over 90 days, several
models, prompts and answers of a dozen words drawn from a 2,000-word vocabulary), then
measures whole-process wall time of: the first report (the index is built from the files:
cold), `mamba usage --rebuild`, the first search after them (which reads the words of every
file), the warm daily report, `--since 7d`, `--by session`, warm searches for a common word,
a rare one, one in 44% of messages (the most BM25 ranks), one in nearly every message (no
weight: the latest sessions first) and a two-word phrase, and, last, the daily report right
after a turn is saved.

With --ccusage, also writes the very same requests as Claude Code logs (_claude_logs.py),
installs ccusage 20 from npm into a cache folder the first time, checks that its daily report
and mamba's count the same days and tokens, and measures `ccusage daily` beside mamba's
daily report over the same days, cold (index deleted before each run) and warm.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _claude_logs import (
    CCUSAGE_VERSION,
    Request,
    ccusage_env,
    install_ccusage,
    launcher,
    native_binary,
    write_session,
)
from _measure import mamba_command, measure, run_once

from mamba_agents.messages import Message, Usage
from mamba_agents.store import Session, SessionStore

VOCABULARY = [f"w{n}" for n in range(2000)]
MODELS = ["openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "ollama/llama3.2"]


def words(rng: random.Random, count: int = 12) -> str:
    """A sentence of vocabulary words; low-numbered words are the common ones."""
    return " ".join(VOCABULARY[int(rng.paretovariate(1.2)) % len(VOCABULARY)] for _ in range(count))


def generate(folder: Path, sessions: int, requests: int, claude: Path | None = None) -> None:
    """The history as mamba session files in `folder`, and, given `claude`, the very same
    requests as Claude Code logs under `claude/projects/` (see _claude_logs.py)."""
    rng = random.Random(3)
    folder.mkdir(parents=True)
    now = time.time()
    for _ in range(sessions):
        start = now - rng.uniform(0, 90 * 86400)
        session = Session(cwd=f"/home/user/project{rng.randint(1, 20)}")
        model = rng.choice(MODELS)
        logged: list[Request] = []
        for turn in range(requests):
            when = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start + turn * 60))
            usage = Usage(rng.randint(500, 20000), rng.randint(50, 2000), rng.randint(0, 5000), 0)
            prompt = Message(role="user", content=words(rng), created_at=when)
            answer = Message(
                role="assistant",
                content=words(rng, 30),
                model=model,
                usage=usage,
                cost_usd=0.001,
                cost_source="estimated",
                duration_ms=800,
                created_at=when,
            )
            session.add_state(parent_id=session.head, model=model, new_messages=[prompt, answer])
            if claude is not None:
                logged.append(
                    Request(
                        prompt.id,
                        answer.id,
                        when,
                        prompt.content,
                        answer.content,
                        model,
                        usage.input_tokens,
                        usage.output_tokens,
                        usage.cache_read_tokens,
                        usage.cache_write_tokens,
                        0.001,
                    )
                )
        (folder / f"{session.id}.json").write_text(session.to_json())
        if claude is not None:
            write_session(claude, session.id, session.cwd, logged)


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    import subprocess

    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def report_after_a_save(home: Path, env: dict[str, str], mamba: str, runs: int) -> float:
    """Median wall time of the daily report right after a turn is saved into one of the
    sessions (as after each `mamba run`), a different session each run."""
    store = SessionStore(home / "sessions")
    walls = []
    for path in sorted((home / "sessions").glob("*.json"))[:runs]:
        session = store.load(path.stem)
        answer = Message(role="assistant", content="ok", model=MODELS[0], usage=Usage(900, 90))
        session.add_state(parent_id=session.head, new_messages=[Message.user("one more"), answer])
        store.save(session)
        walls.append(run_once([mamba, "usage"], env)[0])
    return statistics.median(walls)


def forget_index(home: Path) -> None:
    """Everything mamba keeps beside the session files (the usage index), gone."""
    for entry in home.iterdir():
        if entry.name not in ("sessions", "claude"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for entry in (home / "sessions").iterdir():
        if not entry.name.endswith(".json"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def measure_interleaved(
    commands: dict[str, tuple[list[str], dict[str, str], bool]], runs: int, home: Path
) -> dict[str, dict[str, float]]:
    """Median wall and peak RSS of each command over `runs` rounds that run every command
    once in turn (after a warm-up round), so that other work on the machine weighs on all of
    them alike. A command marked cold runs with mamba's index deleted first."""
    samples: dict[str, list[tuple[float, float]]] = {key: [] for key in commands}
    for round_ in range(runs + 1):
        for key, (argv, env, cold) in commands.items():
            if cold:
                forget_index(home)
            figures = run_once(argv, env)
            if round_:
                samples[key].append(figures)
    return {
        key: {
            "wall": statistics.median(wall for wall, _ in runs_),
            "rss": statistics.median(rss for _, rss in runs_),
        }
        for key, runs_ in samples.items()
    }


def json_of(argv: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def compare_ccusage(home: Path, env: dict[str, str], mamba: str, prefix: Path, runs: int) -> None:
    """`ccusage daily` beside `mamba usage` over the same requests and the same days."""
    cenv = ccusage_env(home, home / "claude")
    ccusage = [*launcher(prefix), "daily", "--offline"]
    binary = [native_binary(prefix) or "", "daily", "--offline"]
    # mamba's daily report shows the last 30 days unless told; ccusage's, every day: so both
    # cover all 90 days of the history here.
    report = [mamba, "usage", "--since", "91d"]

    theirs = json_of([*ccusage, "--json"], cenv)
    ours = json_of([*report, "--json"], env)
    their_days, our_days = len(theirs["daily"]), len(ours["rows"])
    their_tokens, our_tokens = theirs["totals"]["totalTokens"], ours["totals"]["total_tokens"]
    their_cost, our_cost = theirs["totals"]["totalCost"], ours["totals"]["cost_usd"]
    print(
        f"\nccusage {CCUSAGE_VERSION} `daily`: {their_days} days, {their_tokens:,} tokens, "
        f"${their_cost:,.2f}; `mamba usage --since 91d`: {our_days} days, "
        f"{ours['totals']['requests']:,} requests, {our_tokens:,} tokens, ${our_cost:,.2f}"
    )
    if (their_days, their_tokens) != (our_days, our_tokens) or abs(their_cost - our_cost) > 0.01:
        raise SystemExit("ccusage and mamba do not report the same requests")

    # The other benchmarks here run one command's runs back to back (_measure.measure); these
    # take turns instead, as ccusage reads its files on every core and so suffers more than
    # mamba from anything else that runs meanwhile.
    figures = measure_interleaved(
        {
            "ccusage": (ccusage, cenv, False),
            "binary": (binary, cenv, False),
            "calculate": ([*ccusage, "--mode", "calculate"], cenv, False),
            "cold": (report, env, True),
            "warm": (report, env, False),
            "breakdown": ([*report, "--breakdown"], env, False),
        },
        runs,
        home,
    )
    base, native = figures["ccusage"]["wall"], figures["binary"]["wall"]

    def row(label: str, key: str) -> None:
        wall, rss = figures[key]["wall"], figures[key]["rss"]
        ratios = f"{base / wall:.2f}× | {native / wall:.2f}×"
        print(f"| {label} | {wall:.2f} s | {rss:.0f} MB | {ratios} |")

    print(f"ccusage runs as `CLAUDE_CONFIG_DIR={home / 'claude'} {' '.join(ccusage)}`")
    print(
        f"\n| the same {ours['totals']['requests']:,} requests, every day | median wall "
        "| peak RSS | × faster than `ccusage daily` | × faster than its binary alone |"
        "\n|---|---|---|---|---|"
    )
    row(f"`ccusage daily --offline` (ccusage@{CCUSAGE_VERSION}: node launcher + binary)", "ccusage")
    row("ccusage's native binary alone, `daily --offline`", "binary")
    row("`ccusage daily --offline --mode calculate` (prices each request)", "calculate")
    row("`mamba usage --since 91d`, index deleted (cold)", "cold")
    row("`mamba usage --since 91d` (warm)", "warm")
    row("`mamba usage --since 91d --breakdown` (warm)", "breakdown")
    warm, cold = figures["warm"]["wall"], figures["cold"]["wall"]
    print(
        f"\nwarm: {warm:.2f} s, {base / warm:.1f}× ccusage's speed "
        f"(target ≤ 0.2 s and ≥ 3×: {'met' if warm <= 0.2 and base / warm >= 3 else 'NOT met'}); "
        f"cold: {cold:.2f} s, {base / cold:.2f}× "
        f"(target no slower: {'met' if cold <= base else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--ccusage",
        action="store_true",
        help=f"also measure ccusage {CCUSAGE_VERSION} on the same requests (installs it with npm)",
    )
    args = parser.parse_args()
    prefix = install_ccusage() if args.ccusage else None
    home = Path(tempfile.mkdtemp(prefix="mamba-usage-"))
    started = time.perf_counter()
    generate(home / "sessions", args.sessions, args.requests, home / "claude" if prefix else None)
    print(
        f"generated {args.sessions:,} sessions, {args.sessions * args.requests:,} requests "
        f"{'(and as Claude Code logs) ' if prefix else ''}"
        f"in {time.perf_counter() - started:.1f} s\n"
    )
    env = dict(os.environ, MAMBA_HOME=str(home), HOME=str(home))
    mamba = mamba_command()
    cold = timed([mamba, "usage"], env)
    rebuild = timed([mamba, "usage", "--rebuild"], env)
    first_search = timed([mamba, "sessions", "search", "w10"], env)
    print("| report | median wall |\n|---|---|")
    print(f"| first report, index built from the files (cold) | {cold:.2f} s |")
    print(f"| `mamba usage --rebuild` | {rebuild:.2f} s |")
    print(f"| first search after them (reads the words of every file) | {first_search:.2f} s |")
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
        ("`mamba sessions search w5` (in 44% of messages: the most that BM25 ranks)", ["w5"]),
        ("`mamba sessions search w1` (in nearly every message: no weight, latest first)", ["w1"]),
        ('`mamba sessions search "w2 w3"` (a phrase)', ['"w2 w3"']),
    ):
        figures = measure([mamba, "sessions", "search", *query], args.runs, env)
        print(f"| {label} | {figures['wall']:.2f} s ({figures['rss']:.0f} MB) |")
    if prefix is not None:
        compare_ccusage(home, env, mamba, prefix, args.runs)
    # Last: the turns it saves would change the requests the comparison checks.
    after_save = report_after_a_save(home, env, mamba, args.runs)
    print(f"\n`mamba usage` right after a turn is saved (warm): {after_save:.2f} s")


if __name__ == "__main__":
    main()
