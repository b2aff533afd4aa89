"""Whole-process wall time and peak RSS of a command, and the modules it imported."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("litellm", "mcp", "tiktoken", "openai", "opentelemetry")
ROOT = Path(__file__).resolve().parents[1]


def run_once(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one run; a failed run stops the benchmark."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed with {os.waitstatus_to_exitcode(status)}")
    return elapsed, usage.ru_maxrss / 1024


def measure(argv: list[str], runs: int, env: dict[str, str] | None = None) -> dict[str, float]:
    """Median wall seconds and median peak RSS (MB) over `runs` runs (after one warm-up)."""
    walls, rss = [], []
    for index in range(runs + 1):
        elapsed, peak = run_once(argv, env)
        if index:
            walls.append(elapsed)
            rss.append(peak)
    return {"wall": statistics.median(walls), "rss": statistics.median(rss)}


def heavy_imports(argv: list[str], env: dict[str, str] | None = None) -> list[str]:
    """Which of the heavy modules the command imports."""
    environment = dict(env or os.environ, PYTHONPROFILEIMPORTTIME="1")
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=environment, stdin=subprocess.DEVNULL
    )
    found = set()
    for line in proc.stderr.splitlines():
        name = line.rsplit("|", 1)[-1].strip()
        if name.split(".")[0] in HEAVY:
            found.add(name.split(".")[0])
    return sorted(found)


def mamba_command() -> str:
    """The installed `mamba`, with the source tree's bytecode compiled as an install does
    (an editable install under PYTHONDONTWRITEBYTECODE would recompile at every start)."""
    import compileall

    compileall.compile_dir(ROOT / "src", quiet=1)
    return str(Path(sys.executable).parent / "mamba")
