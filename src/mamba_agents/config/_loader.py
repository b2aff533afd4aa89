"""Read settings from flags, environment, .env files and TOML, in documented precedence."""

from __future__ import annotations

import json
import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mamba_agents.config._files import read_toml
from mamba_agents.config._mcp import read_mcp_json, servers_from_toml
from mamba_agents.config._mcp_files import servers_path
from mamba_agents.config._rules import rules_path
from mamba_agents.config._schema import (
    CHOICES,
    POSITIVE,
    RANGES,
    SECTIONS,
    ModelOverride,
    Secret,
)
from mamba_agents.errors import ConfigError
from mamba_agents.paths import config_home

ENV_PREFIX = "MAMBA_"
# Variables of ours that are not settings.
RESERVED_ENV = {"MAMBA_HOME"}

Layer = tuple[str, dict[str, dict[str, Any]]]  # (source label, {section: {key: raw value}})


def parse_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file: `KEY=value` lines, `export` prefixes, quotes and comments."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            raise ConfigError(f"{path}:{number}: expected KEY=value, got {raw.strip()!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def env_layer(source: str, variables: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Settings named `MAMBA_SECTION__KEY` in a set of variables.

    Other `MAMBA_` variables without `__` are left alone (other programs use that prefix);
    a `MAMBA_X__Y` that names no setting is an error.
    """
    layer: dict[str, dict[str, Any]] = {}
    for name, value in variables.items():
        if not name.startswith(ENV_PREFIX) or name in RESERVED_ENV or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        _check_key(section, key, f"{source}: {name}")
        layer.setdefault(section, {})[key] = value
    return layer


def toml_layer(path: Path) -> dict[str, dict[str, Any]]:
    """The settings of a TOML file; unknown tables and keys are errors naming the file."""
    data = read_toml(path)
    layer: dict[str, dict[str, Any]] = {}
    for section, table in data.items():
        if section == "models":
            layer["models"] = _models_table(path, table)
            continue
        if section == "mcp":
            layer["mcp"] = servers_from_toml(table, str(path))
            continue
        if section not in SECTIONS:
            raise ConfigError(f"{path}: unknown key '{section}'")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: '{section}' must be a table")
        for key in table:
            _check_key(section, key, f"{path}: {section}.{key}")
        layer[section] = dict(table)
    return layer


def _models_table(path: Path, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: 'models' must be a table of model names")
    known = {f.name: f for f in fields(ModelOverride)}
    models: dict[str, Any] = {}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise ConfigError(f'{path}: models."{name}" must be a table')
        values = {}
        for key, value in entry.items():
            where = f'{path}: models."{name}".{key}'
            if key not in known:
                raise ConfigError(f"{where}: unknown key")
            values[key] = coerce(value, _hint(ModelOverride, key), where)
            if key.endswith("_price") and values[key] is not None and values[key] < 0:
                raise ConfigError(f"{where}: must not be negative; got {values[key]}")
            sized = key in ("context_window", "max_output_tokens") and values[key] is not None
            if sized and values[key] <= 0:
                raise ConfigError(f"{where}: must be above zero; got {values[key]}")
        models[name] = ModelOverride(**values)
    return models


def _check_key(section: str, key: str, where: str) -> None:
    if section not in SECTIONS:
        raise ConfigError(f"{where}: unknown setting (no section '{section}')")
    if key not in {f.name for f in fields(SECTIONS[section])}:
        raise ConfigError(f"{where}: unknown setting '{section}.{key}'")


def _hint(cls: type, key: str) -> Any:
    return typing.get_type_hints(cls)[key]


def coerce(value: Any, hint: Any, where: str) -> Any:
    """Convert a raw value (TOML value or environment string) to the field's type."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("", "none", "null")):
            return None
        hint = options[0]
    if typing.get_origin(hint) is list:
        if isinstance(value, str):
            value = _list_from_text(value, where)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return list(value)
    if hint is Secret:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string")
        return Secret(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        kind = "an integer" if hint is int else "a number"
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {kind}, got {value!r}") from None
        if not math.isfinite(number) or (hint is int and not number.is_integer()):
            raise ConfigError(f"{where}: expected {kind}, got {value!r}")
        return hint(number)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _list_from_text(text: str, where: str) -> list[str]:
    """A list from an environment value: a JSON array, or comma-separated items."""
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            raise ConfigError(f"{where}: expected a JSON list, got {text!r}") from None
        return value
    return [item.strip() for item in text.split(",") if item.strip()]


def build_section(section: str, raw: dict[str, Any], sources: dict[str, str]) -> Any:
    """Instantiate one section's dataclass from raw values, validating each."""
    cls = SECTIONS[section]
    values = {}
    for key, value in raw.items():
        where = f"{sources[f'{section}.{key}']}: {section}.{key}"
        if key not in {f.name for f in fields(cls)}:
            raise ConfigError(f"{where}: unknown setting")
        value = coerce(value, _hint(cls, key), where)
        choices = CHOICES.get((section, key))
        if choices and value not in choices:
            raise ConfigError(f"{where}: must be one of {', '.join(choices)}; got {value!r}")
        bounds = RANGES.get((section, key))
        if bounds and value is not None and not bounds[0] <= value <= bounds[1]:
            raise ConfigError(f"{where}: must be between {bounds[0]} and {bounds[1]}; got {value}")
        if (section, key) in POSITIVE and value is not None and value <= 0:
            raise ConfigError(f"{where}: must be above zero; got {value}")
        values[key] = value
    try:
        return cls(**values)
    except ConfigError as exc:  # a rule between keys (such as target below trigger)
        source = next((sources[f"{section}.{key}"] for key in raw), "default")
        raise ConfigError(f"{source}: {exc}") from None


@dataclass(frozen=True)
class LoadedLayers:
    """What `config_layers` read: the layers (lowest precedence first), the provider
    variables, the sources that are the working folder's own files, and the provider
    variables an untrusted `./.env` set but was not allowed to."""

    layers: list[Layer]
    provider_env: dict[str, str]
    project: set[str]
    withheld: list[str]


def _is_mambas(path: Path) -> bool:
    """Whether a TOML file has any mamba section (another tool's `config.toml` has none)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True  # let toml_layer report it
    return any(section in SECTIONS or section in ("models", "mcp") for section in data)


def config_layers(
    *,
    config_file: str | os.PathLike[str] | None,
    cwd: Path,
    environ: Mapping[str, str],
    trust_project: bool = False,
) -> LoadedLayers:
    """All file and environment layers, lowest precedence first, the provider variables,
    and which layers come from the working directory's own files.

    Precedence (highest first): environment, ./.env, ~/mamba.env, ./.mcp.json, ./config.toml
    or the `--config` file, the servers `mamba mcp add` added, the saved permission rules,
    $XDG_CONFIG_HOME/mamba/config.toml. The provider variables are the
    environment's over the .env files' (an untrusted ./.env gives none).
    """
    layers: list[Layer] = []
    project: set[str] = set()
    withheld: list[str] = []
    for user_file in (config_home() / "config.toml", rules_path(), servers_path()):
        if user_file.is_file():
            layers.append((str(user_file), toml_layer(user_file)))

    if config_file is not None:
        path = Path(config_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"--config {config_file}: no such file")
        layers.append((str(path), toml_layer(path)))
    elif (cwd / "config.toml").is_file() and _is_mambas(cwd / "config.toml"):
        layers.append((str(cwd / "config.toml"), toml_layer(cwd / "config.toml")))
        project.add(str(cwd / "config.toml"))
    if (cwd / ".mcp.json").is_file():
        layers.append((str(cwd / ".mcp.json"), {"mcp": read_mcp_json(cwd / ".mcp.json")}))
        project.add(str(cwd / ".mcp.json"))
    provider_env: dict[str, str] = {}
    project_env = cwd / ".env"
    for path in (Path.home() / "mamba.env", project_env):
        if not path.is_file():
            continue
        values = parse_dotenv(path)
        layers.append((str(path), env_layer(str(path), values)))
        if path is project_env:
            project.add(str(path))
        if trust_project or path is not project_env:
            provider_env.update(values)
        else:
            withheld = [k for k in values if not k.startswith(ENV_PREFIX)]
    layers.append(("environment", env_layer("environment", environ)))
    provider_env.update(environ)
    return LoadedLayers(layers, provider_env, project, withheld)
