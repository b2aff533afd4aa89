"""A stdio server's process, started before the SDK is imported, and the transport that
speaks JSON-RPC lines over its pipes.

Starting the process first lets the server's own start-up overlap with importing `mcp` in
this process (each takes about half a second); the SDK then talks to it through
`stdio_transport`, which it accepts like its own stdio client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from mamba_agents.config import MCPServerConfig
from mamba_agents.mcp._watchdog import GRACE_SECONDS, start_time

# What a server inherits from our environment besides what its entry gives it (the SDK's
# own choice): nothing that could hold a key.
INHERITED = ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER")
_stopping: weakref.WeakSet[subprocess.Popen[bytes]] = weakref.WeakSet()
_LINE_LIMIT = 64 * 1024 * 1024


def spawn(config: MCPServerConfig, log: IO[Any]) -> subprocess.Popen[bytes]:
    """Start a stdio server in its own process group (a Ctrl-C in the terminal is ours to
    pass on), its stderr into `log`. Raises OSError when it cannot be started."""
    env = {k: os.environ[k] for k in INHERITED if k in os.environ and os.environ[k][:2] != "()"}
    env.update(config.env)
    return subprocess.Popen(
        [config.command or "", *config.args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
        cwd=config.cwd or None,
        start_new_session=True,
    )


async def stop(process: subprocess.Popen[bytes], *, detach: bool = False) -> None:
    """End a server as the protocol asks: stdin closed, a grace period, then SIGTERM to its
    process group, then SIGKILL. With `detach`, return once stdin is closed and leave the
    rest to a watchdog process (on Linux), so the caller need not wait for the server to
    exit."""
    if process in _stopping:
        return  # stopped already (by its transport, or a close after it)
    _stopping.add(process)
    with contextlib.suppress(OSError):
        process.stdin.close()  # type: ignore[union-attr]
    if detach and _hand_to_watchdog(process):
        return
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
        if await _exited(process, GRACE_SECONDS):
            return


def _hand_to_watchdog(process: subprocess.Popen[bytes]) -> bool:
    """Start the watchdog for a server that has not exited yet; False when it cannot be
    (no /proc to recognise the process by)."""
    started = start_time(process.pid)
    if process.poll() is not None:
        return True
    if started is None:
        return False
    script = str(Path(__file__).with_name("_watchdog.py"))
    try:
        subprocess.Popen(
            [sys.executable, "-I", "-S", script, str(process.pid), started],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return False
    return True


async def _exited(process: subprocess.Popen[bytes], within: float) -> bool:
    deadline = time.monotonic() + within
    while process.poll() is None:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.005)
    return True


@contextlib.asynccontextmanager
async def stdio_transport(
    process: subprocess.Popen[bytes], *, detach: bool = False
) -> AsyncIterator[tuple[Any, Any]]:
    """The SDK's transport shape over a running server's pipes: (messages read, messages
    to send). Lines that are not JSON-RPC are passed on as errors for the session; leaving
    the context stops the server (see `stop` for `detach`)."""
    import anyio
    from mcp import types
    from mcp.shared.message import SessionMessage

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    read_pipe, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), process.stdout
    )
    write_pipe, _ = await loop.connect_write_pipe(asyncio.Protocol, process.stdin)
    incoming_writer, incoming = anyio.create_memory_object_stream[Any](0)
    outgoing, outgoing_reader = anyio.create_memory_object_stream[Any](0)

    closed = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream)

    async def read_lines() -> None:
        with contextlib.suppress(*closed, ConnectionError, ValueError):
            async with incoming_writer:
                while line := await reader.readline():
                    if not line.strip():
                        continue
                    try:
                        message: Any = SessionMessage(
                            types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                        )
                    except ValueError as exc:
                        message = exc
                    await incoming_writer.send(message)
        # Nobody reads any more: keep draining, so a server writing can still exit.
        with contextlib.suppress(ConnectionError, ValueError):
            while await reader.read(65536):
                pass

    async def write_lines() -> None:
        with contextlib.suppress(*closed):
            async with outgoing_reader:
                async for message in outgoing_reader:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    if not write_pipe.is_closing():
                        write_pipe.write(data.encode() + b"\n")

    async with anyio.create_task_group() as group:
        group.start_soon(read_lines)
        group.start_soon(write_lines)
        try:
            yield incoming, outgoing
        finally:
            # Finish even when the caller is cancelled, or the process would be left behind.
            with anyio.CancelScope(shield=True):
                write_pipe.close()
                await stop(process, detach=detach)
                for stream in (incoming, outgoing, incoming_writer, outgoing_reader):
                    await stream.aclose()
            read_pipe.close()
            group.cancel_scope.cancel()
