"""Where mamba keeps its data and looks for its configuration."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["config_home", "mamba_home", "sessions_dir"]


def mamba_home() -> Path:
    """`$MAMBA_HOME`, else `$XDG_DATA_HOME/mamba`, else `~/.local/share/mamba`."""
    if os.environ.get("MAMBA_HOME"):
        return Path(os.environ["MAMBA_HOME"]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "mamba"


def sessions_dir() -> Path:
    """The folder holding one JSON file per session."""
    return mamba_home() / "sessions"


def config_home() -> Path:
    """`$XDG_CONFIG_HOME/mamba`, else `~/.config/mamba`."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "mamba"
