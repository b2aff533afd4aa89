"""Writing the TOML files mamba owns (trusted folders, added MCP servers, approvals)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def write_toml(path: Path, header: str, document: dict[str, Any]) -> None:
    """Replace `path` at once with `document` (tomli-w) under a `# header` line: a temp file
    in the same folder, synced, renamed over it."""
    import tomli_w

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(f"# {header}\n".encode())
            tomli_w.dump(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
