"""Sees a stopped stdio server off after mamba has exited: the server was told to stop (its
stdin closed); if it is still there after the grace period, its process group gets SIGTERM,
then SIGKILL. Run as a script (`python _watchdog.py PID`), detached.

It recognises the server by the start time /proc gives for its pid, so a pid used again by
another process is never signalled.
"""

import os
import signal
import sys
import time

GRACE_SECONDS = 2.0


def start_time(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat); None when it is gone or a
    zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in "ZX" else fields[19]


def wait_gone(pid: int, started: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while start_time(pid) == started:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def main(pid: int, started: str) -> None:
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None and start_time(pid) == started:
            try:
                os.killpg(pid, sig)
            except OSError:
                return
        if wait_gone(pid, started, GRACE_SECONDS):
            return


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
