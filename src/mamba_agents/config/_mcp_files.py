"""The files mamba owns about MCP servers: the servers `mamba mcp add` added, and the
user's answers about servers that came with a project folder."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from mamba_agents.config._files import write_toml
from mamba_agents.config._mcp import MCPServerConfig, servers_from_toml
from mamba_agents.errors import ConfigError
from mamba_agents.paths import config_home

SERVERS_FILE = "mcp-servers.toml"
APPROVALS_FILE = "mcp-approvals.toml"


def servers_path() -> Path:
    """`$XDG_CONFIG_HOME/mamba/mcp-servers.toml`: the servers `mamba mcp add` added."""
    return config_home() / SERVERS_FILE


def approvals_path() -> Path:
    """`$XDG_CONFIG_HOME/mamba/mcp-approvals.toml`: answers about project servers."""
    return config_home() / APPROVALS_FILE


def _load(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def added_servers() -> dict[str, MCPServerConfig]:
    """The servers in the file `mamba mcp add` writes."""
    path = servers_path()
    data = _load(path)
    return servers_from_toml(data["mcp"], str(path)) if "mcp" in data else {}


def _write_servers(servers: dict[str, MCPServerConfig]) -> Path:
    path = servers_path()
    tables = {name: config.to_table() for name, config in sorted(servers.items())}
    write_toml(
        path,
        "MCP servers added with 'mamba mcp add'. Edit freely.",
        {"mcp": {"servers": tables}},
    )
    return path


def save_server(config: MCPServerConfig) -> Path:
    """Add a server to the file `mamba mcp add` writes; an existing name is an error."""
    servers = added_servers()
    if config.name in servers:
        raise ConfigError(
            f"MCP server '{config.name}' already exists in {servers_path()} "
            f"(remove it first with 'mamba mcp remove {config.name}')"
        )
    servers[config.name] = config
    return _write_servers(servers)


def remove_server(name: str) -> Path | None:
    """Remove a server from the file `mamba mcp add` writes; None when it is not there."""
    servers = added_servers()
    if servers.pop(name, None) is None:
        return None
    return _write_servers(servers)


def _answers() -> dict[str, dict[str, Any]]:
    table = _load(approvals_path()).get("folders", {})
    return table if isinstance(table, dict) else {}


def project_server_answer(folder: str | os.PathLike[str], config: MCPServerConfig) -> bool | None:
    """The user's answer about a project's server (True: may start), or None when not asked
    yet. An answer is for the server exactly as it was: a changed entry is asked again."""
    entry = _answers().get(str(Path(folder).resolve()), {}).get(config.name)
    if not isinstance(entry, dict) or entry.get("fingerprint") != config.fingerprint():
        return None
    answer = entry.get("approved")
    return answer if isinstance(answer, bool) else None


def remember_project_server(
    folder: str | os.PathLike[str], config: MCPServerConfig, approved: bool
) -> Path:
    """Remember the user's answer about a project's server."""
    answers = _answers()
    key = str(Path(folder).resolve())
    answers.setdefault(key, {})[config.name] = {
        "approved": approved,
        "fingerprint": config.fingerprint(),
        "command": config.describe(),
    }
    path = approvals_path()
    write_toml(
        path,
        "Answers about MCP servers that came with a project folder. Edit freely.",
        {"folders": answers},
    )
    return path
