"""Who the requests made here are recorded as."""

from __future__ import annotations

import getpass
import os


def request_user(configured: str | None = None) -> str:
    """`configured` (`[store] user`) or the operating system's user name."""
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container, say)
        return str(os.getuid())
