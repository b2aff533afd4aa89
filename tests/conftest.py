"""Shared fixtures: the scripted model server, an isolated home, the installed `mamba`."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from model_server import ScriptedModelServer
from postgres_server import PostgresServer, start_server

MAMBA = Path(sys.executable).parent / "mamba"
MCP_SERVER = str(Path(__file__).with_name("mcp_server.py"))


@pytest.fixture(autouse=True)
def closed_circuits() -> None:
    """Every test starts with every circuit breaker closed: the breakers last as long as
    the process, and the in-process scripted models of many tests share one endpoint."""
    from mamba_agents.backends import reset_breakers

    reset_breakers()


def drop_index(store: Any) -> None:
    """Delete a session store's usage index (it is rebuilt by itself)."""
    for path in store.root.glob(".index.sqlite3*"):
        path.unlink()


@pytest.fixture
def worker_processes(monkeypatch) -> list[int]:
    """The usage index reads files in two worker processes from 4 files to read, 2 at a
    time; the list gets an item per worker process started."""
    from mamba_agents.store import _reading

    started: list[int] = []
    fork = os.fork

    def counted_fork() -> int:
        started.append(1)
        return fork()

    monkeypatch.setattr(_reading, "PARALLEL_FILES", 4)
    monkeypatch.setattr(_reading, "_CHUNK", 2)
    monkeypatch.setattr(_reading.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(_reading.os, "fork", counted_fork)
    monkeypatch.setattr(_reading.threading, "active_count", lambda: 1)
    return started


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for this test process; the tests that need one are skipped,
    saying why, when none can be started (`MAMBA_REQUIRE_POSTGRES=1` makes that an error)."""
    started = start_server()
    if isinstance(started, str):
        if os.environ.get("MAMBA_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"no PostgreSQL for the tests: {started}")
        pytest.skip(f"no PostgreSQL for the tests: {started}")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL (without its password) of a fresh database; PGPASSWORD holds the password."""
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    return postgres_server.new_database()


@pytest.fixture(params=["files", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each session behaviour test runs on both stores."""
    return str(request.param)


@pytest.fixture
def store_env(store_kind: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment that points a `mamba` process at the store under test."""
    if store_kind == "files":
        return {}
    url = request.getfixturevalue("postgres_url")
    password = request.getfixturevalue("postgres_server").password
    return {"MAMBA_STORE__URL": url, "PGPASSWORD": password}


@pytest.fixture
def any_store(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A session store of the kind under test, empty."""
    from mamba_agents.store import PostgresStore, SessionStore

    if store_kind == "files":
        yield SessionStore(tmp_path / "sessions")
        return
    with PostgresStore(request.getfixturevalue("postgres_url")) as store:
        yield store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated HOME, MAMBA_HOME, XDG config dir and working directory."""
    root = tmp_path / "home"
    (root / "work").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(root))
    monkeypatch.setenv("MAMBA_HOME", str(root / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "config"))
    for name in list(os.environ):
        if (
            (name.startswith("MAMBA_") and name not in ("MAMBA_HOME", "MAMBA_REQUIRE_POSTGRES"))
            or name.endswith("_API_KEY")
            or name.startswith("PG")
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(root / "work")
    return root


@dataclass
class Completed:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines()]


def mamba_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment a `mamba` process gets in tests: the isolated home, fast retries."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "MAMBA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "MAMBA_RETRY__BASE_WAIT": "0.01",
        **extra,
    }


def run_mamba(
    *args: str,
    home: Path,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> Completed:
    """Run the installed `mamba` command in the isolated home; stdin is empty unless given."""
    environment = mamba_env(home, **(env or {}))
    proc = subprocess.run(
        [str(MAMBA), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd or home / "work",
        timeout=timeout,
    )
    return Completed(proc.returncode, proc.stdout, proc.stderr)


def mamba_in_process(*args: str, home: Path, env: dict[str, str] | None = None) -> Completed:
    """`mamba *args` run in this process by Typer's runner, in the isolated home: for what
    the command says and its exit code when starting a process is not what a test is about
    (each kind of run keeps tests through the installed command). stdin is empty."""
    import logging

    from typer.testing import CliRunner

    from mamba_cli.main import run_app

    logger = logging.getLogger("mamba_agents")
    saved = logger.handlers[:], logger.level, logger.propagate
    try:
        with CliRunner().isolation(input="", env=mamba_env(home, **(env or {}))) as streams:
            code = run_app(list(args))
            out, err = (stream.getvalue().decode() for stream in streams[:2])
    finally:
        # The command points mamba's logger at its own stderr, now closed: put it back.
        for handler in logger.handlers:
            if handler not in saved[0]:
                handler.close()
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]
    return Completed(code, out, err)


@pytest.fixture
def mamba(home: Path, server: ScriptedModelServer):
    """`mamba(*args)` runs the installed command against the scripted server."""

    def invoke(*args: str, model: str = "openai/gpt-4o", **kwargs: Any) -> Completed:
        if "run" in args:
            args = (*args, "--model", model, "--base-url", server.base_url)
        return run_mamba(*args, home=home, **kwargs)

    return invoke


def start_mamba(home: Path, *args: str) -> subprocess.Popen[str]:
    """Start the installed `mamba` in the isolated home, in the background, text pipes."""
    return subprocess.Popen(
        [str(MAMBA), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=mamba_env(home),
        cwd=home / "work",
    )


@functools.cache
def warm_litellm() -> None:
    """Make LiteLLM ready in this process: its import and the further imports of its first
    request take seconds, which must not count against the timeouts of whichever test
    happens to use it first."""
    import asyncio

    from mamba_agents.backends import LiteLLMBackend, ModelRequest

    async def one_request(backend: LiteLLMBackend) -> None:
        async for _ in backend.complete(ModelRequest([{"role": "user", "content": "hi"}])):
            pass

    with ScriptedModelServer() as srv:
        backend = LiteLLMBackend("openai/warm-up", api_base=srv.base_url, api_key="sk-warm-up")
        asyncio.run(one_request(backend))


def wait_until(condition: Callable[[], Any], timeout: float = 10) -> bool:
    """Wait until `condition()` is true (polling), at most `timeout` seconds; its last answer.

    For conditions that come about on their own a moment later (a killed process gone, a
    file written); use it as `assert wait_until(...)` rather than sleeping a fixed time.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return bool(condition())
        time.sleep(0.01)
    return True


def wait_for_request(server: ScriptedModelServer, timeout: float = 10) -> None:
    """Wait until the scripted server has received a request."""
    assert wait_until(lambda: server.requests, timeout), f"no request within {timeout} s"


def add_turn(session: Any, text: str) -> None:
    """Add a user message and a priced assistant answer to a session as one new state."""
    from mamba_agents.messages import Message, Usage

    session.add_state(
        parent_id=session.head,
        new_messages=[
            Message.user(text),
            Message(
                role="assistant",
                content=f"re: {text}",
                model="openai/gpt-4o",
                usage=Usage(10, 2),
                cost_usd=0.001,
                cost_source="estimated",
            ),
        ],
        model="openai/gpt-4o",
        system="sys",
    )


def session_files(home: Path) -> list[Path]:
    folder = home / "data" / "sessions"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def live_processes(marker: str) -> list[int]:
    """Processes (not zombies) whose command line contains `marker`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "status").read_text()
        except OSError:
            continue
        if marker in cmdline and "State:\tZ" not in state:
            found.append(int(proc.name))
    return found


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accepts(port: int) -> bool:
    """Whether something listens on the loopback port."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def web_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The MCP test server twice, over streamable HTTP and over SSE, on free loopback
    ports; killed at the end. `{"http": url, "sse": url, "markers": {...}}`."""
    import uuid

    folder = tmp_path_factory.mktemp("web-servers")
    started: dict[str, tuple[subprocess.Popen[bytes], int, Path, str]] = {}
    try:
        for transport in ("http", "sse"):
            port, marker = free_port(), f"mcpweb-{transport}-{uuid.uuid4().hex[:10]}"
            log = folder / transport
            with log.open("wb") as out:
                argv = [MCP_SERVER, "--transport", transport, "--port", str(port)]
                proc = subprocess.Popen(
                    [sys.executable, *argv, "--name", marker],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started[transport] = (proc, port, log, marker)
        for proc, port, log, _ in started.values():
            assert wait_until(lambda p=proc, n=port: p.poll() is not None or accepts(n), 30)
            assert proc.poll() is None and accepts(port), log.read_text()
        yield {
            "http": f"http://127.0.0.1:{started['http'][1]}/mcp",
            "sse": f"http://127.0.0.1:{started['sse'][1]}/sse",
            "markers": {transport: item[3] for transport, item in started.items()},
        }
    finally:
        for proc, *_ in started.values():
            proc.kill()
            proc.wait()
