"""`mamba run` on a terminal: the answer streams as it arrives."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

from conftest import MAMBA, mamba_env


def test_answer_streams_to_a_terminal(home, server):
    server.add({"text": "alpha beta gamma", "chunks": 3, "chunk_delay": 0.6})
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(MAMBA), "run", "go", "-m", "gpt-4o", "--base-url", server.base_url],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.DEVNULL,
        env=mamba_env(home, TERM="xterm"),
        cwd=home / "work",
    )
    os.close(slave)
    seen = b""
    first_piece_while_running = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 1024)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if first_piece_while_running is None and b"alpha" in seen:
                first_piece_while_running = proc.poll() is None and b"gamma" not in seen
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(master)
    assert proc.returncode == 0
    assert first_piece_while_running is True
    assert seen.replace(b"\r\n", b"\n").endswith(b"alpha beta gamma\n")
