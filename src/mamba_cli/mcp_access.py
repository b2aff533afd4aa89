"""Which MCP servers a command may start: the user's own, those of `--mcp-config` files, and
those that came with the working folder once the user approved each."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from mamba_cli import output

# Asked about a server that came with an untrusted folder: (server config) -> may it start?
AskServer = Callable[[Any], bool]


def approve_hint(name: str) -> str:
    return f"approve it with 'mamba mcp approve {name}' or trust the folder with 'mamba trust'"


def configured_servers(settings: Any, mcp_config: Sequence[str] = ()) -> dict[str, Any]:
    """Every server the settings and the `--mcp-config` files name (the files' win)."""
    from mamba_agents.config import read_mcp_json

    servers = dict(settings.mcp_servers)
    for path in mcp_config:
        servers.update(read_mcp_json(path))
    return servers


def may_start(config: Any, ask: AskServer | None) -> bool | None:
    """Whether a server may start: yes for the user's own; for one that came with the
    working folder, the user's remembered answer, else `ask`'s (remembered); None when
    nobody could be asked."""
    from mamba_agents.config import project_server_answer, remember_project_server

    if not config.project:
        return True
    answer = project_server_answer(os.getcwd(), config)
    if answer is None and ask is not None:
        answer = ask(config)
        remember_project_server(os.getcwd(), config, answer)
    return answer


def partition(
    settings: Any, mcp_config: Sequence[str] = (), ask: AskServer | None = None
) -> tuple[list[Any], list[tuple[Any, bool | None]]]:
    """The servers that may start, and those that may not with the user's answer (False:
    refused; None: not asked yet)."""
    chosen, withheld = [], []
    for config in configured_servers(settings, mcp_config).values():
        answer = may_start(config, ask)
        if answer:
            chosen.append(config)
        else:
            withheld.append((config, answer))
    return chosen, withheld


def servers_to_start(
    settings: Any, mcp_config: Sequence[str] = (), ask: AskServer | None = None
) -> tuple[list[Any], list[tuple[Any, str]]]:
    """The servers to start, and those to hold back with the reason: a folder's server the
    user has not approved (left out with a one-line warning naming how to approve it) or
    has refused."""
    chosen, withheld = partition(settings, mcp_config, ask)
    held = []
    for config, answer in withheld:
        name = config.name
        if answer is None:
            held.append((config, f"this folder's servers need approval; {approve_hint(name)}"))
            command, *rest = config.details()
            details = "; ".join([output.shorten(command, 60), *rest])
            output.warn(
                f"{config.source}: MCP server '{name}' ({details}) not started: {held[-1][1]}"
            )
        else:
            held.append((config, f"refused for this folder (allow it: mamba mcp approve {name})"))
    return chosen, held


def manager_for(settings: Any, servers: list[Any], held: Sequence[tuple[Any, str]] = ()) -> Any:
    """An MCP client manager for the servers, also listing those held back (None without
    any: nothing of mcp loads)."""
    if not servers and not held:
        return None
    from mamba_agents.mcp import MCPClientManager

    manager = MCPClientManager(
        servers,
        environ=settings.provider_env,
        output_limit=settings.tools.output_limit,
        detach_on_close=True,  # mamba exits right after: a watchdog sees the servers off
    )
    for config, reason in held:
        manager.hold(config, reason)
    manager.spawn()  # the servers start up while this process goes on (and imports mcp)
    return manager


def server_failures(statuses: Sequence[dict[str, Any]]) -> list[str]:
    """One line per server that failed, naming it and why."""
    return [
        f"MCP server '{s['name']}' failed: {s.get('error') or 'unknown error'}"
        for s in statuses
        if s.get("status") == "failed"
    ]
