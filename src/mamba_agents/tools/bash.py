"""run_bash: a shell command in the sandbox folder, with a timeout, an output cap and an
environment without our secrets."""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mamba_agents.config import is_secret_name
from mamba_agents.tools._security import FilesystemSecurity

__all__ = ["BashResult", "run_bash", "safe_environment", "scrub_own_environment"]

DEFAULT_OUTPUT_LIMIT = 30_000
_OUR_PREFIXES = ("MAMBA_", "LITELLM_")
# The command runs in an inner bash; the outer one (a child subreaper, so everything the
# command starts stays below it) reports the exit status on a pipe, then stops itself so
# that whatever is left can be found and killed before it goes.
_SUPERVISOR = 'bash -c "$1" {fd}>&-; printf %d "$?" >&{fd}; kill -STOP "$$"'
_PR_SET_CHILD_SUBREAPER = 36


def safe_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment minus anything named like a secret (`*_API_KEY`, `*_TOKEN`,
    `*_SECRET`, `*_PASSWORD`, ...) and our own settings."""
    source = os.environ if environ is None else environ
    return {
        k: v for k, v in source.items() if not is_secret_name(k) and not k.startswith(_OUR_PREFIXES)
    }


def scrub_own_environment() -> int:
    """Blank the secret values in this process's original environment block, the copy
    other processes can read in `/proc/<pid>/environ`; `os.environ` keeps them. Returns how
    many values were blanked (0 where there is no such block to reach, as off Linux)."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        with open("/proc/self/environ", "rb") as handle:
            block = handle.read()
        # env_start and env_end: fields 50 and 51 of /proc/<pid>/stat (the first split
        # off here is field 3).
        start, end = int(fields[47]), int(fields[48])
    except (OSError, IndexError, ValueError):
        return 0
    if end - start != len(block):
        return 0
    spans, offset = [], 0
    for entry in block.split(b"\0"):
        name, sep, value = entry.partition(b"=")
        if sep and value and is_secret_name(name.decode(errors="replace")):
            spans.append((start + offset + len(name) + 1, len(value)))
        offset += len(entry) + 1
    if spans:
        import ctypes

        for address, length in spans:
            ctypes.memset(address, ord("*"), length)
    return len(spans)


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


def cap_text(text: str, limit: int) -> str:
    """`text` kept to about `limit` bytes as command output is: its first and last halves,
    with a note of how much was cut between them."""
    capped = _CappedText(limit)
    capped.add(text.encode("utf-8", errors="replace"))
    return capped.text()


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


@functools.cache
def _child_setup() -> Callable[[], None] | None:
    """What makes the outer bash a subreaper between fork and exec (Linux), or None."""
    if not os.path.isdir("/proc/self"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return functools.partial(prctl, _PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _descendants(root: int) -> list[int]:
    """Live processes below `root` (read from /proc; [] where there is none)."""
    children: dict[int, list[int]] = {}
    try:
        entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return []
    for name in entries:
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                after = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if after and after[0] != b"Z":
            children.setdefault(int(after[1]), []).append(int(name))
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), ()):
            found.append(child)
            queue.append(child)
    return found


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    """Kill the command and everything it started, even what left its process group.

    Everything below the outer bash is stopped first (a stopped process cannot fork, and
    stays visible), until a few scans in a row find nothing new; then all of it is killed,
    and the outer bash last: while it lives, everything the command started stays below it.
    """
    stopped: set[int] = set()
    quiet_scans = 0
    while quiet_scans < 3 and len(stopped) < 100_000:
        new = [pid for pid in _descendants(process.pid) if pid not in stopped]
        quiet_scans = 0 if new else quiet_scans + 1
        for pid in new:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
            stopped.add(pid)
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


def run_bash(
    command: str,
    timeout: float = 30.0,
    security: FilesystemSecurity | None = None,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
    cancel: threading.Event | None = None,
    max_timeout: float | None = None,
) -> BashResult:
    """Run a shell command in the working directory and return its output and exit code.

    Args:
        command: The bash command line.
        timeout: Seconds before the command (and everything it started) is killed.

    Nothing the command starts outlives the call, background processes included.
    `cancel` (set by the runtime when the call is cancelled) kills it at once;
    `max_timeout` (the runtime's) caps whatever timeout the caller asks for.
    """
    security = security if security is not None else FilesystemSecurity()
    if max_timeout is not None:
        timeout = min(timeout, max_timeout)
    status_read, status_write = os.pipe()
    try:
        process = subprocess.Popen(
            ["bash", "-c", _SUPERVISOR.format(fd=status_write), "mamba-tool", command],
            cwd=security.base,
            env=safe_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            pass_fds=(status_write,),
            preexec_fn=_child_setup(),
        )
    finally:
        os.close(status_write)
    buffers = {"stdout": _CappedText(output_limit), "stderr": _CappedText(output_limit)}
    status = bytearray()
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, "stdout")
    selector.register(process.stderr, selectors.EVENT_READ, "stderr")
    selector.register(status_read, selectors.EVENT_READ, "status")
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
            for key, _ in selector.select(min(remaining, 0.2)):
                data = os.read(key.fd, 65536)
                if key.data == "status":
                    status += data
                    if not data or status:
                        # The command is done: whatever it left running goes too.
                        selector.unregister(key.fileobj)
                        _kill_tree(process)
                elif data:
                    buffers[key.data].add(data)
                else:
                    selector.unregister(key.fileobj)
    finally:
        _kill_tree(process)
        selector.close()
        process.wait()
        os.close(status_read)
        process.stdout.close()
        process.stderr.close()
    exit_code = int(status) if status.isdigit() and not (timed_out or cancelled) else None
    return BashResult(
        command=command,
        stdout=buffers["stdout"].text(),
        stderr=buffers["stderr"].text(),
        exit_code=exit_code,
        timed_out=timed_out,
        truncated=any(b.dropped for b in buffers.values()),
    )
