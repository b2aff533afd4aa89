"""`mamba mcp`: add, remove, approve, list and inspect MCP servers."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from mamba_cli import output

app = typer.Typer(
    help="MCP servers whose tools the agent can use.", no_args_is_help=True, rich_markup_mode=None
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
McpConfigOption = Annotated[
    list[str] | None,
    typer.Option("--mcp-config", metavar="FILE", help="Also the servers of this JSON file."),
]


def _pairs(items: list[str] | None, separator: str, option: str) -> dict[str, str]:
    from mamba_agents.errors import ConfigError

    pairs: dict[str, str] = {}
    for item in items or ():
        key, found, value = item.partition(separator)
        if not found or not key.strip():
            example = "K=V" if separator == "=" else "'Name: value'"
            raise ConfigError(f"{option} {item!r}: expected {example}")
        pairs[key.strip()] = value.strip() if separator == ":" else value
    return pairs


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The server's name (tools: mcp__NAME__TOOL).")],
    command: Annotated[
        list[str] | None,
        typer.Argument(help="After --: the command that starts a stdio server, and its arguments."),
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="A remote server's URL.")] = None,
    transport: Annotated[
        str | None, typer.Option("--transport", help="http (default for --url) or sse.")
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", "-e", help="K=V for a stdio server's environment; ${VAR} allowed."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header", "-H", help="'Name: value' sent to a remote server; ${VAR} allowed."
        ),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.001, help="Seconds each tool call may take.")
    ] = None,
    startup_timeout: Annotated[
        float | None,
        typer.Option("--startup-timeout", min=0.001, help="Seconds the server may take to start."),
    ] = None,
) -> None:
    """Add a server to mamba's own servers file (your config.toml is never rewritten).

    mamba mcp add time -- uvx mcp-server-time

    mamba mcp add docs --url https://example.com/mcp --header 'Authorization: Bearer ${TOKEN}'
    """
    from mamba_agents.config import MCPServerConfig, save_server
    from mamba_agents.errors import ConfigError

    if bool(command) == bool(url):
        raise ConfigError("give either a command (after --) or --url")
    if command and (transport not in (None, "stdio") or header):
        raise ConfigError("--transport and --header are for a server given with --url")
    if url and env:
        raise ConfigError("--env is for a server started with a command")
    if url and transport not in (None, "http", "sse"):
        raise ConfigError(f"--transport: must be http or sse, not {transport!r}")
    options: dict[str, Any] = {}
    if timeout is not None:
        options["timeout"] = timeout
    if startup_timeout is not None:
        options["startup_timeout"] = startup_timeout
    config = MCPServerConfig(
        name=name,
        transport="stdio" if command else (transport or "http"),
        command=command[0] if command else None,
        args=list(command[1:]) if command else [],
        env=_pairs(env, "=", "--env"),
        url=url,
        headers=_pairs(header, ":", "--header"),
        **options,
    )
    from mamba_cli.settings import load_settings

    other = load_settings(ctx).mcp_servers.get(name)
    path = save_server(config)
    output.progress(f"added MCP server '{name}' ({config.describe()}) to {path}")
    if other is not None:
        output.warn(
            f"{other.source} also has an MCP server '{name}': the file with the higher "
            "precedence wins (see 'mamba config path')"
        )


@app.command("remove")
def remove(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The server to remove.")]
) -> None:
    """Remove a server that `mamba mcp add` added."""
    from mamba_agents.config import remove_server, servers_path
    from mamba_agents.errors import ConfigError
    from mamba_cli.settings import load_settings

    path = remove_server(name)
    if path is not None:
        output.progress(f"removed MCP server '{name}' from {path}")
        return
    config = load_settings(ctx).mcp_servers.get(name)
    if config is None:
        raise ConfigError(f"no MCP server named '{name}' (see 'mamba mcp list')")
    raise ConfigError(
        f"MCP server '{name}' is defined in {config.source}, not in {servers_path()}; "
        "mamba does not rewrite that file: remove it there or set enabled = false"
    )


@app.command("approve")
def approve(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Servers of this folder's config.")],
    deny: Annotated[bool, typer.Option("--deny", help="Refuse them instead.")] = False,
) -> None:
    """Let servers that came with this folder (.mcp.json, ./config.toml) start, or not."""
    from mamba_agents.config import remember_project_server
    from mamba_agents.errors import ConfigError
    from mamba_cli.settings import load_settings

    servers = load_settings(ctx).mcp_servers
    for name in names:
        config = servers.get(name)
        if config is None or not config.project:
            where = "is not configured" if config is None else f"is yours ({config.source})"
            raise ConfigError(f"MCP server '{name}' {where}: only a folder's servers need approval")
    for name in names:
        path = remember_project_server(os.getcwd(), servers[name], not deny)
        verb = "refused" if deny else "approved"
        output.progress(f"{verb} MCP server '{name}' for {os.getcwd()} (saved in {path}):")
        for line in servers[name].details():
            output.progress(f"  {line}")


async def _connected(
    settings: Any, servers: list[Any], held: list[tuple[Any, str]] | None = None
) -> Any:
    from mamba_cli.mcp_access import manager_for

    manager = manager_for(settings, servers, held or [])
    await manager.start()
    return manager


def _rows(settings: Any, mcp_config: list[str] | None) -> list[dict[str, Any]]:
    """Each configured server with its status after trying to start it."""
    import asyncio

    from mamba_cli.mcp_access import approve_hint, partition

    startable, withheld = partition(settings, mcp_config or ())
    held = [(config, approve_hint(config.name)) for config, _ in withheld]
    configured = {c.name: c for c in [*startable, *(config for config, _ in held)]}

    async def probe() -> list[dict[str, Any]]:
        manager = await _connected(settings, startable, held)
        try:
            return [s.to_dict() for s in manager.statuses()]
        finally:
            await manager.aclose()

    statuses = asyncio.run(probe()) if configured else []
    return [
        {
            **row,
            "target": configured[row["name"]].describe(),
            "source": configured[row["name"]].source,
        }
        for row in statuses
    ]


@app.command("list")
def list_servers(
    ctx: typer.Context, mcp_config: McpConfigOption = None, as_json: JsonOption = False
) -> None:
    """Every configured server: transport, status (connected, failed and why, disabled,
    not approved), tool count and start-up time. Servers start concurrently to be checked."""
    from mamba_cli.settings import load_settings

    rows = _rows(load_settings(ctx), mcp_config)
    if as_json:
        output.print_json(rows)
        return
    if not rows:
        output.progress("no MCP servers configured (add one with 'mamba mcp add')")
        return
    for row in rows:
        started = row.get("startup_seconds")
        timing = f"{started:.2f} s" if started is not None else "-"
        tools = f"{row.get('tools', 0)} tools" if row["status"] == "connected" else ""
        line = (
            f"{row['name']:<16} {row['transport']:<6} {row['status']:<13} {tools:<10} "
            f"{timing:<8} {output.shorten(row['target'], 60)}"
        )
        print(output.terminal_safe(line))
        if row.get("error"):
            print(output.terminal_safe(f"  {row['error']}"))


@app.command("tools")
def tools(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The server.")],
    mcp_config: McpConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """A server's tools: the name the model sees, risk class, description, input schema."""
    import asyncio
    import json

    from mamba_agents.errors import AgentError, ConfigError
    from mamba_cli.mcp_access import approve_hint, configured_servers, may_start
    from mamba_cli.settings import load_settings

    settings = load_settings(ctx)
    config = configured_servers(settings, mcp_config or ()).get(name)
    if config is None:
        raise ConfigError(f"no MCP server named '{name}' (see 'mamba mcp list')")
    if not may_start(config, None):
        raise ConfigError(f"MCP server '{name}' came with this folder: {approve_hint(name)}")

    async def listing() -> list[dict[str, Any]]:
        manager = await _connected(settings, [config])
        try:
            status = manager.status(name)
            if status.status != "connected":
                raise AgentError(f"MCP server '{name}' {status.status}: {status.error}")
            return [
                {
                    "name": tool.name,
                    "name_on_server": tool.original_name,
                    "risk": tool.risk,
                    "description": tool.description,
                    "input_schema": tool.parameters,
                }
                for tool in manager.get_tools()
            ]
        finally:
            await manager.aclose()

    rows = asyncio.run(listing())
    if as_json:
        output.print_json(rows)
        return
    for row in rows:
        print(output.terminal_safe(f"{row['name']}  ({row['risk']})"))
        for line in (row["description"] or "").strip().splitlines():
            print(output.terminal_safe(f"  {line}"))
        schema = json.dumps(row["input_schema"], indent=2, ensure_ascii=False)
        print(output.terminal_safe("\n".join(f"  {line}" for line in schema.splitlines())))
        print()
