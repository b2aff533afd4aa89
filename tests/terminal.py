"""A real pseudo-terminal running a command, with a screen emulator to read what it shows.

Answers the cursor-position requests a real terminal would, so prompt-toolkit behaves as it
does for a person (bottom toolbar included).
"""

from __future__ import annotations

import re
import time

import pexpect
import pyte


class Terminal:
    def __init__(
        self, argv: list[str], env: dict[str, str], cwd: str, rows: int = 40, columns: int = 120
    ):
        self.screen = pyte.Screen(columns, rows)
        self._stream = pyte.ByteStream(self.screen)
        self.raw = b""
        self.child = pexpect.spawn(argv[0], argv[1:], env=env, cwd=cwd, dimensions=(rows, columns))

    def pump(self, seconds: float = 0.2) -> None:
        """Read what the program wrote for up to `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.child.read_nonblocking(65536, timeout=0.05)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                return
            self.raw += data
            self._stream.feed(data)
            if b"\x1b[6n" in data:
                self.child.send(f"\x1b[{self.screen.cursor.y + 1};{self.screen.cursor.x + 1}R")

    def text(self) -> str:
        """The screen as plain text."""
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_for(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """Wait until the screen shows `pattern` (a regular expression)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0.1)
            match = re.search(pattern, self.text())
            if match:
                return match
        raise AssertionError(f"{pattern!r} never appeared; screen:\n{self.text()}")

    def type(self, text: str) -> None:
        self.child.send(text)

    def enter(self, text: str = "") -> None:
        self.child.send(text + "\r")

    def ctrl(self, key: str) -> None:
        self.child.sendcontrol(key)

    def wait_exit(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while self.child.isalive() and time.monotonic() < deadline:
            self.pump(0.1)
        self.pump(0.1)
        self.child.close()
        return self.child.exitstatus if self.child.exitstatus is not None else -1

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)
