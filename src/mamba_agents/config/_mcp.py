"""MCP server entries: `[mcp.servers.NAME]` tables in TOML and the `.mcp.json` shape."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mamba_agents.config._schema import SECRET_NAME
from mamba_agents.errors import ConfigError

TRANSPORTS = ("stdio", "sse", "http")
_JSON_TRANSPORTS = {"stdio": "stdio", "sse": "sse", "http": "http", "streamable-http": "http"}
# A `_` only between other characters: `mcp__<server>__` then never starts another
# server's names, and rules such as `mcp__fs__*` cover one server only.
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]|_(?=[A-Za-z0-9-]))*$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Fields that say which process or address a server is, and what it is given.
_IDENTITY = ("transport", "command", "args", "env", "cwd", "url", "headers")


@dataclass(frozen=True)
class MCPServerConfig:
    """One MCP server: a command to start (`stdio`) or a URL (`sse`, `http`).

    `${VAR}` and `${VAR:-default}` in `env`, `headers`, `args` and `url` are taken from the
    environment when the server starts, so tokens need not be written into files.
    `timeout` bounds each tool call and `startup_timeout` the connection, in seconds.
    `include_tools` and `exclude_tools` are tool names or `fnmatch` patterns. `mode` is
    `auto` (the newest protocol, falling back) or `legacy` (skip the probe some servers
    ignore). `source` says where the entry came from; `project` that it came with the
    working folder (it starts only once the user approves it).
    """

    name: str
    transport: str = "stdio"
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 60.0
    startup_timeout: float = 30.0
    include_tools: list[str] = field(default_factory=list)
    exclude_tools: list[str] = field(default_factory=list)
    enabled: bool = True
    mode: str = "auto"
    source: str = field(default="", compare=False)
    project: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        where = f"mcp.servers.{self.name}"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(
                f"{where}: a server name is letters, digits, '-' and single '_' between them, "
                f"got {self.name!r}"
            )
        if self.transport not in TRANSPORTS:
            raise ConfigError(
                f"{where}.transport: must be one of {', '.join(TRANSPORTS)}; got {self.transport!r}"
            )
        if self.mode not in ("auto", "legacy"):
            raise ConfigError(f"{where}.mode: must be auto or legacy; got {self.mode!r}")
        if self.transport == "stdio" and not self.command and not self.url:
            raise ConfigError(f"{where}: needs a command (stdio) or a url (http, sse)")
        if self.transport == "stdio":
            if not self.command:
                raise ConfigError(f"{where}: a stdio server needs a command")
            if self.url:
                raise ConfigError(f"{where}: a stdio server takes a command, not a url")
        else:
            if not self.url or not re.match(r"^https?://", self.url, re.I):
                raise ConfigError(f"{where}.url: an {self.transport} server needs an http(s) URL")
            if self.command:
                raise ConfigError(f"{where}: an {self.transport} server takes a url, not a command")
        for key in ("timeout", "startup_timeout"):
            value = getattr(self, key)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{where}.{key}: must be a number above zero; got {value}")
        texts = [self.command, self.cwd, self.url, *self.args, *self.env.values()]
        texts += [*self.headers.values(), *self.headers]
        if any(text and "\0" in text for text in texts):
            raise ConfigError(f"{where}: a NUL character is not allowed")
        for variable in self.env:
            if not variable or "=" in variable or "\0" in variable:
                raise ConfigError(f"{where}.env: {variable!r} is not a variable name")

    def describe(self) -> str:
        """The command line or URL, for people."""
        if self.transport == "stdio":
            return " ".join([self.command or "", *self.args])
        return self.url or ""

    def details(self) -> list[str]:
        """Everything a person approving the server should see, as written: the command
        or URL, the environment it gets, its folder, the headers sent, and the secrets
        (variables named like keys and tokens) its `${VAR}` references would read."""
        lines = [self.describe()]
        lines += [f"env {key}={value}" for key, value in self.env.items()]
        lines += [f"in {self.cwd}"] if self.cwd else []
        lines += [f"header {key}: {value}" for key, value in self.headers.items()]
        secrets = sorted(
            {name for name in self.variables() if SECRET_NAME.search(name) is not None}
        )
        if secrets:
            lines.append(f"reads your secrets: {', '.join(secrets)}")
        return lines

    def variables(self) -> list[str]:
        """The environment variables its `${VAR}` references name."""
        texts = [*self.args, *self.env.values(), *self.headers.values(), self.url or ""]
        return [match.group(1) for text in texts for match in _VARIABLE.finditer(text)]

    def fingerprint(self) -> str:
        """A digest of what the server is (command, arguments, environment, URL, headers):
        an approval is for exactly this, and a changed entry asks again."""
        identity = {key: getattr(self, key) for key in _IDENTITY}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]

    def resolved(self, environ: Mapping[str, str]) -> MCPServerConfig:
        """This entry with `${VAR}` references replaced; ConfigError names an unset one."""

        def expand(text: str, key: str) -> str:
            def value(match: re.Match[str]) -> str:
                name, default = match.group(1), match.group(2)
                if name in environ:
                    return environ[name]
                if default is not None:
                    return default
                raise ConfigError(f"mcp.servers.{self.name}.{key}: ${{{name}}} is not set")

            return _VARIABLE.sub(value, text)

        return replace(
            self,
            args=[expand(a, "args") for a in self.args],
            env={k: expand(v, f"env.{k}") for k, v in self.env.items()},
            headers={k: expand(v, f"headers.{k}") for k, v in self.headers.items()},
            url=expand(self.url, "url") if self.url else None,
        )

    def to_table(self) -> dict[str, Any]:
        """The entry as a `[mcp.servers.NAME]` table: only what differs from the defaults."""
        defaults = {f.name: f.default for f in fields(self) if not callable(f.default_factory)}
        table: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key in ("name", "source", "project") or value in (None, [], {}):
                continue
            if key in defaults and value == defaults[key]:
                continue
            table[key] = value
        return table


_KINDS: dict[str, tuple[type, ...]] = {
    "transport": (str,),
    "command": (str,),
    "args": (list,),
    "env": (dict,),
    "cwd": (str,),
    "url": (str,),
    "headers": (dict,),
    "timeout": (int, float),
    "startup_timeout": (int, float),
    "include_tools": (list,),
    "exclude_tools": (list,),
    "enabled": (bool,),
    "mode": (str,),
}


def _checked_value(key: str, value: Any, where: str) -> Any:
    kinds = _KINDS[key]
    wrong = not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
    if wrong:
        names = {str: "a string", list: "a list", dict: "a table", bool: "true or false"}
        expected = "a number" if int in kinds else names[kinds[0]]
        raise ConfigError(f"{where}: expected {expected}, got {value!r}")
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    if isinstance(value, dict) and not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"{where}: expected string values, got {value!r}")
    return float(value) if key.endswith("timeout") else value


def server_from_table(
    name: str, table: Any, source: str, *, strict: bool = True, project: bool = False
) -> MCPServerConfig:
    """An entry from its table; with `strict`, an unknown key is an error naming `source`."""
    where = f"{source}: mcp.servers.{name}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _KINDS:
            if strict:
                raise ConfigError(f"{where}.{key}: unknown key")
            continue
        values[key] = _checked_value(key, value, f"{where}.{key}")
    if "transport" not in values:
        values["transport"] = "http" if "url" in values and "command" not in values else "stdio"
    try:
        return MCPServerConfig(name=name, source=source, project=project, **values)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def servers_from_toml(table: Any, source: str) -> dict[str, MCPServerConfig]:
    """The servers of a TOML file's `[mcp]` table (`[mcp.servers.NAME]` entries)."""
    if not isinstance(table, dict) or set(table) - {"servers"}:
        raise ConfigError(f"{source}: 'mcp' holds only [mcp.servers.NAME] tables")
    servers = table.get("servers", {})
    if not isinstance(servers, dict):
        raise ConfigError(f"{source}: mcp.servers must be a table of server names")
    return {name: server_from_table(name, entry, source) for name, entry in servers.items()}


def read_mcp_json(path: str | Path, *, project: bool = False) -> dict[str, MCPServerConfig]:
    """The servers of a `.mcp.json`-shaped file: `{"mcpServers": {NAME: {"command": ...,
    "args": [...], "env": {...}} or {"type": "http"|"sse", "url": ..., "headers": {...}}}}`.
    Keys other tools add are ignored."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid JSON: nested too deeply") from None
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise ConfigError(f'{path}: expected {{"mcpServers": {{NAME: {{...}}}}}}')
    found: dict[str, MCPServerConfig] = {}
    for name, entry in servers.items():
        if isinstance(entry, dict) and isinstance(entry.get("disabled"), bool):
            entry = {**entry, "enabled": not entry["disabled"]}  # other tools' switch
        if isinstance(entry, dict) and "type" in entry:
            entry = dict(entry)
            kind = entry.pop("type")
            if kind not in _JSON_TRANSPORTS:
                raise ConfigError(
                    f"{path}: mcpServers.{name}.type: must be stdio, http or sse; got {kind!r}"
                )
            entry["transport"] = _JSON_TRANSPORTS[kind]
        found[name] = server_from_table(name, entry, str(path), strict=False, project=project)
    return found
