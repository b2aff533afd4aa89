"""run_bash: a shell command in the sandbox folder, with a timeout, an output cap and an
environment without our secrets."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from mamba_agents.tools._security import FilesystemSecurity

__all__ = ["BashResult", "run_bash", "safe_environment"]

DEFAULT_OUTPUT_LIMIT = 30_000
_SECRET_NAME = re.compile(r"(API_?KEY|_KEY$|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.I)
_OUR_PREFIXES = ("MAMBA_", "LITELLM_")


def safe_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment minus anything named like a secret (`*_API_KEY`, `*_TOKEN`,
    `*_SECRET`, `*_PASSWORD`, ...) and our own settings."""
    source = os.environ if environ is None else environ
    return {
        k: v
        for k, v in source.items()
        if not _SECRET_NAME.search(k) and not k.startswith(_OUR_PREFIXES)
    }


class _CappedText:
    """Keeps the first and last `limit / 2` bytes of a stream and counts the rest."""

    def __init__(self, limit: int):
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            excess = len(self.tail) - self.half
            if excess > 0:
                self.dropped += excess
                del self.tail[:excess]

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if self.dropped:
            return f"{head}\n[... {self.dropped} bytes cut ...]\n{tail}"
        return head + tail


@dataclass(frozen=True)
class BashResult:
    """What a command printed and how it ended."""

    command: str
    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool = False
    truncated: bool = False

    def to_text(self) -> str:
        status = "timed out (killed)" if self.timed_out else f"exit code {self.exit_code}"
        parts = [status]
        if self.stdout:
            parts.append(f"--- stdout ---\n{self.stdout.rstrip()}")
        if self.stderr:
            parts.append(f"--- stderr ---\n{self.stderr.rstrip()}")
        return "\n".join(parts)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def run_bash(
    command: str,
    timeout: float = 30.0,
    security: FilesystemSecurity | None = None,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
    cancel: threading.Event | None = None,
) -> BashResult:
    """Run a shell command in the working directory and return its output and exit code.

    Args:
        command: The bash command line.
        timeout: Seconds before the command (and everything it started) is killed.

    `cancel` (set by the runtime when the call is cancelled) kills it at once.
    """
    security = security if security is not None else FilesystemSecurity()
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=security.base,
        env=safe_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    buffers = {"stdout": _CappedText(output_limit), "stderr": _CappedText(output_limit)}
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, "stdout")
    selector.register(process.stderr, selectors.EVENT_READ, "stderr")
    deadline = time.monotonic() + timeout
    timed_out = cancelled = False
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            if process.poll() is not None:
                # The command is done: whatever it left running in the background goes too.
                _kill_group(process)
            for key, _ in selector.select(min(remaining, 0.2)):
                data = os.read(key.fd, 65536)
                if data:
                    buffers[key.data].add(data)
                else:
                    selector.unregister(key.fileobj)
    finally:
        _kill_group(process)
        selector.close()
        process.wait()
        process.stdout.close()
        process.stderr.close()
    return BashResult(
        command=command,
        stdout=buffers["stdout"].text(),
        stderr=buffers["stderr"].text(),
        exit_code=None if timed_out or cancelled else process.returncode,
        timed_out=timed_out,
        truncated=any(b.dropped for b in buffers.values()),
    )
