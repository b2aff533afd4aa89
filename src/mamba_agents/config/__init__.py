"""Settings: `AgentSettings` and its sections, loaded with the `MAMBA_` prefix."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from mamba_agents.config._files import read_toml
from mamba_agents.config._loader import LoadedLayers, build_section, coerce, config_layers
from mamba_agents.config._mcp import MCPServerConfig, read_mcp_json
from mamba_agents.config._mcp_files import (
    added_servers,
    project_server_answer,
    remember_project_server,
    remove_server,
    save_server,
    servers_path,
)
from mamba_agents.config._rules import RULES_FILE, rules_path, save_rule
from mamba_agents.config._schema import (
    SECTIONS,
    AgentDefaultsConfig,
    CompactionConfig,
    LoggingConfig,
    ModelBackendConfig,
    ModelOverride,
    ObservabilityConfig,
    PermissionsConfig,
    RetryConfig,
    Secret,
    SessionConfig,
    StoreConfig,
    ToolsConfig,
    is_secret_name,
)
from mamba_agents.config._trust import (
    TRUST_FILE,
    is_trusted,
    restrict_layer,
    trust_folder,
    trusted_folders,
    untrust_folder,
)

__all__ = [
    "MERGED_LISTS",
    "RULES_FILE",
    "TRUST_FILE",
    "AgentDefaultsConfig",
    "AgentSettings",
    "CompactionConfig",
    "LoggingConfig",
    "MCPServerConfig",
    "ModelBackendConfig",
    "ModelOverride",
    "ObservabilityConfig",
    "PermissionsConfig",
    "RetryConfig",
    "Secret",
    "SessionConfig",
    "StoreConfig",
    "ToolsConfig",
    "added_servers",
    "is_secret_name",
    "is_trusted",
    "project_server_answer",
    "read_mcp_json",
    "read_toml",
    "remember_project_server",
    "remove_server",
    "rules_path",
    "save_rule",
    "save_server",
    "servers_path",
    "trust_folder",
    "trusted_folders",
    "untrust_folder",
]

# Settings whose lists from every layer are combined rather than replaced.
MERGED_LISTS = {("permissions", "allow"), ("permissions", "ask"), ("permissions", "deny")}


def _validate(source: str, layer: dict[str, dict[str, Any]]) -> None:
    """Raise the ConfigError a layer's values would raise, naming `source`."""
    for section, values in layer.items():
        if section not in ("models", "mcp"):
            build_section(section, values, {f"{section}.{key}": source for key in values})


class AgentSettings:
    """All settings, from (highest first) explicit overrides, the environment, `./.env`,
    `~/mamba.env`, `./config.toml` or `config_file`, `$XDG_CONFIG_HOME/mamba/config.toml`,
    and the defaults.

    `./config.toml` and `./.env` belong to the folder, not the user: unless the folder is
    trusted (`trust_project`, default: whether `trust_folder` was called for it or a folder
    above it) they may only restrict, and `untrusted` lists what they were not allowed to
    set.

    `overrides` is `{section: {key: value}}` (the CLI's flags). `sources` maps
    `section.key` to where its value came from.
    """

    model_backend: ModelBackendConfig
    agent: AgentDefaultsConfig
    retry: RetryConfig
    logging: LoggingConfig
    session: SessionConfig
    store: StoreConfig
    tools: ToolsConfig
    permissions: PermissionsConfig
    context: CompactionConfig
    observability: ObservabilityConfig

    def __init__(
        self,
        *,
        config_file: str | os.PathLike[str] | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        load: bool = True,
        trust_project: bool | None = None,
    ):
        environ = os.environ if environ is None else environ
        folder = Path(cwd or os.getcwd())
        self.project_trusted = is_trusted(folder) if trust_project is None else trust_project
        loaded = (
            config_layers(
                config_file=config_file,
                cwd=folder,
                environ=environ,
                trust_project=self.project_trusted,
            )
            if load
            else LoadedLayers([], dict(environ), set(), [])
        )
        layers, self.provider_env = loaded.layers, loaded.provider_env
        # What an untrusted folder's files tried to set and were not allowed to:
        # {file: [section.key or variable, ...]}.
        self.untrusted: dict[str, list[str]] = {}
        if loaded.withheld:
            self.untrusted[str(folder / ".env")] = list(loaded.withheld)
        if overrides:
            layers.append(("command line", {s: dict(v) for s, v in overrides.items()}))
        raw: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        self.sources: dict[str, str] = {}
        self.models: dict[str, ModelOverride] = {}
        self.mcp_servers: dict[str, MCPServerConfig] = {}
        # Where each item of a merged list came from: {(section, key, item): source}.
        self.item_sources: dict[tuple[str, str, str], str] = {}
        for source, layer in layers:
            if source in loaded.project and not self.project_trusted:
                _validate(source, layer)
                layer, ignored = restrict_layer(layer, raw, coerce)
                if ignored:
                    self.untrusted.setdefault(source, []).extend(ignored)
            for section, values in layer.items():
                if section == "models":
                    self.models.update(values)
                    self.sources.update({f'models."{name}"': source for name in values})
                    continue
                if section == "mcp":
                    self._add_servers(values, source, source in loaded.project)
                    continue
                for key, value in values.items():
                    if value is None:
                        continue
                    if (section, key) in MERGED_LISTS:
                        value = self._merge(section, key, value, raw[section].get(key), source)
                    raw[section][key] = value
                    self.sources[f"{section}.{key}"] = source
        for section in SECTIONS:
            setattr(self, section, build_section(section, raw[section], self.sources))

    def _merge(
        self, section: str, key: str, value: Any, merged: list[str] | None, source: str
    ) -> list[str]:
        """Lists such as permission rules accumulate over the layers instead of replacing."""
        items = coerce(value, list[str], f"{source}: {section}.{key}")
        merged = list(merged or [])
        for item in items:
            if item not in merged:
                merged.append(item)
                self.item_sources[(section, key, item)] = source
        return merged

    def _add_servers(
        self, servers: dict[str, MCPServerConfig], source: str, from_folder: bool
    ) -> None:
        """A layer's MCP servers replace same-named ones of lower layers. A folder the user
        has not trusted may bring servers (they start once the user approves each) but may
        not replace one of the user's own."""
        for name, config in servers.items():
            if from_folder and not self.project_trusted:
                mine = self.mcp_servers.get(name)
                if mine is not None and not mine.project:
                    self.untrusted.setdefault(source, []).append(f"mcp.servers.{name}")
                    continue
                config = dataclasses.replace(config, project=True)
            self.mcp_servers[name] = config

    def secret_values(self) -> tuple[str, ...]:
        """The secrets these settings know (the API key, and provider variables named like
        secrets), longest first, for masking wherever text leaves the process."""
        values = {v for k, v in self.provider_env.items() if is_secret_name(k) and len(v) >= 8}
        key = self.model_backend.api_key
        if key is not None and len(key.get()) >= 8:
            values.add(key.get())
        return tuple(sorted(values, key=len, reverse=True))

    def item_source(self, section: str, key: str, item: str) -> str:
        """Where one item of a merged list (such as a permission rule) came from."""
        return self.item_sources.get((section, key, item), self.source_of(f"{section}.{key}"))

    @classmethod
    def defaults(cls) -> AgentSettings:
        """Settings with every default and nothing read from files or the environment."""
        return cls(load=False, environ={})

    def source_of(self, dotted_key: str) -> str:
        """Where `section.key` (or a whole `models."name"` entry) came from: a file path,
        `environment`, `command line`, or `default`."""
        return self.sources.get(dotted_key, "default")

    def to_dict(self, *, reveal_secrets: bool = False) -> dict[str, Any]:
        """All settings as plain data; secrets masked unless `reveal_secrets`."""
        data: dict[str, Any] = {}
        for section in SECTIONS:
            values = {}
            obj = getattr(self, section)
            for f in fields(obj):
                value = getattr(obj, f.name)
                if isinstance(value, Secret):
                    value = value.get() if reveal_secrets else "****"
                values[f.name] = value
            data[section] = values
        data["models"] = {name: asdict(o) for name, o in self.models.items()}
        return data

    def __repr__(self) -> str:
        return f"AgentSettings({self.to_dict()!r})"
