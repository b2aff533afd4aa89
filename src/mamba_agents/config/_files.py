"""Reading TOML files with one-line errors, and writing the TOML files mamba owns (trusted
folders, added MCP servers, approvals)."""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: Path) -> dict[str, Any]:
    """The document of a TOML file; a file that cannot be read or parsed is a ConfigError
    naming it."""
    from mamba_agents.errors import ConfigError

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None


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
