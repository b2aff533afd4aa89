"""The ANSI styles of the chat's own lines (answers are styled by `markdown_stream`)."""

from __future__ import annotations

DIM = "\033[2m"
RED = "\033[31m"
YELLOW = "\033[33m"
GREEN = "\033[32m"
CYAN = "\033[36m"
BOLD = "\033[1m"
RESET = "\033[0m"
