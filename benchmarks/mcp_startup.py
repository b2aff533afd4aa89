"""What MCP servers add to a one-shot `mamba run`, beside the servers' own start-up, in one run.

    python benchmarks/mcp_startup.py [--runs 10]

Starts the scripted model server from tests/, then measures the median whole-process wall
time and peak RSS of `mamba run --no-save "hi"` with no MCP server, with one and with three
stdio servers (tests/mcp_server.py, given with --mcp-config), and checks that the run without
servers does not import mcp. Then measures the servers' own start-up: spawn to tools listed,
timed inside a small client process that imports mcp before it starts the clock, for one
server and for three connected concurrently. Budget: the time servers add to `mamba run` is
at most the slowest server's own start-up + 0.1 s (for three, their concurrent start-up).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import ROOT, heavy_imports, mamba_command, measure

SERVER = ROOT / "tests" / "mcp_server.py"
MARGIN = 0.1

CLIENT = """
import mcp  # before the clock: the client's own import is not part of the figure

import asyncio
import sys
import time

from mcp import StdioServerParameters


async def connect(name, started):
    params = StdioServerParameters(
        command=sys.executable, args=[sys.argv[1], "--transport", "stdio", "--name", name]
    )
    async with mcp.Client(params) as client:
        await client.list_tools()
        return time.perf_counter() - started


async def main(names):
    started = time.perf_counter()
    ready = await asyncio.gather(*(connect(name, started) for name in names))
    print(max(ready))


asyncio.run(main(sys.argv[2:]))
"""


def server_names(home: str, count: int) -> list[str]:
    """Server names that carry the temporary folder's name, to find any left running."""
    return [f"{Path(home).name}-{index}" for index in range(count)]


def mcp_config(home: str, count: int) -> str:
    """A --mcp-config JSON file naming `count` stdio test servers."""
    servers = {
        name: {
            "command": sys.executable,
            "args": [str(SERVER), "--transport", "stdio", "--name", name],
        }
        for name in server_names(home, count)
    }
    path = Path(home) / f"mcp-{count}.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return str(path)


def check_run(argv: list[str], env: dict[str, str], servers: int) -> None:
    """Run once with stream-json output: it must exit 0 with every server connected."""
    proc = subprocess.run(
        [*argv, "--output-format", "stream-json"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed with {proc.returncode}:\n{proc.stderr}")
    init = json.loads(proc.stdout.splitlines()[0])
    statuses = init.get("mcp_servers", [])
    connected = [s for s in statuses if s.get("status") == "connected"]
    if len(statuses) != servers or len(connected) != servers:
        raise SystemExit(
            f"{' '.join(argv)}: expected {servers} MCP servers connected, got {statuses}\n"
            f"{proc.stderr}"
        )


def measure_run(argv: list[str], runs: int, env: dict[str, str]) -> dict[str, float]:
    """`measure`, showing the command's stderr when a run fails."""
    try:
        return measure(argv, runs, env)
    except SystemExit as failure:
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
        )
        raise SystemExit(f"{failure}\n{proc.stderr}") from None


def server_startup(client: str, home: str, count: int, runs: int, env: dict[str, str]) -> float:
    """Median seconds from spawning `count` servers concurrently to all of them listing
    their tools (after one warm-up)."""
    argv = [sys.executable, client, str(SERVER), *server_names(home, count)]
    figures = []
    for index in range(runs + 1):
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
        )
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed with {proc.returncode}:\n{proc.stderr}")
        if index:
            figures.append(float(proc.stdout.split()[-1]))
    return statistics.median(figures)


def end_left_running(home: str) -> list[int]:
    """End the processes still running whose command line names the temporary folder
    (servers, mamba runs or clients this benchmark started); their ids."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if Path(home).name.encode() in cmdline:
            found.append(int(entry.name))
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="mamba-bench-mcp-")
    env = dict(os.environ, MAMBA_HOME=home, HOME=home, XDG_CONFIG_HOME=home)
    client = Path(home) / "client.py"
    client.write_text(CLIENT)
    mamba = mamba_command()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "model_server.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        base_url = server.stdout.readline().strip()
        run = [mamba, "run", "--no-save", "hi", "--model", "openai/gpt-4o", "--base-url", base_url]
        cases = {
            0: ("mamba run --no-save, no MCP server", run),
            1: ("… with one stdio MCP server", [*run, "--mcp-config", mcp_config(home, 1)]),
            3: ("… with three stdio MCP servers", [*run, "--mcp-config", mcp_config(home, 3)]),
        }
        for count, (_, argv) in cases.items():
            check_run(argv, env, count)
        results = {count: measure_run(argv, args.runs, env) for count, (_, argv) in cases.items()}
        imports = {count: heavy_imports(argv, env) for count, (_, argv) in cases.items()}
        startup = {
            count: server_startup(str(client), home, count, args.runs, env) for count in (1, 3)
        }
    finally:
        server.terminate()
        server.wait()
        stray = end_left_running(home)
    if stray:
        raise SystemExit(f"processes left running (now ended): {stray}")
    if "mcp" in imports[0]:
        raise SystemExit("mamba run without MCP servers imported mcp")

    print("| command | median wall | peak RSS | heavy imports |")
    print("|---|---|---|---|")
    for count, (name, _) in cases.items():
        figures = results[count]
        heavy = ", ".join(imports[count]) or "none"
        print(f"| `{name}` | {figures['wall'] * 1000:.0f} ms | {figures['rss']:.0f} MB | {heavy} |")

    print("\n| servers' own start-up (spawn to tools listed, client import excluded) | median |")
    print("|---|---|")
    print(f"| one server | {startup[1] * 1000:.0f} ms |")
    print(f"| three servers, concurrently | {startup[3] * 1000:.0f} ms |")

    print(f"\n| servers | added wall time | budget: start-up + {MARGIN:g} s | within budget |")
    print("|---|---|---|---|")
    for count in (1, 3):
        added = results[count]["wall"] - results[0]["wall"]
        budget = startup[count] + MARGIN
        verdict = "yes" if added <= budget else "no"
        print(f"| {count} | {added * 1000:.0f} ms | {budget * 1000:.0f} ms | {verdict} |")
    print(
        f"\n{args.runs} runs each, medians; Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores. Peak RSS is the largest of mamba and the servers it waited for."
    )


if __name__ == "__main__":
    main()
