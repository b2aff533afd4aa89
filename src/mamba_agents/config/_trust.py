"""Trusted folders, and what settings from a folder the user has not trusted may do.

Settings found in the working directory (`./config.toml`, `./.env`) come with whatever
folder the user happens to work in, a cloned repository for instance. Until the user
trusts that folder they may only restrict: add deny and ask rules, lower limits. They may not
send requests or keys elsewhere (nor choose which provider's key is sent), add allow rules,
move the sandbox (path rules are read inside it), write files (a log file), change prices,
turn off redaction, or export traces.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from mamba_agents.config._files import write_toml
from mamba_agents.config._schema import SECTIONS
from mamba_agents.errors import ConfigError
from mamba_agents.paths import config_home

TRUST_FILE = "trusted-folders.toml"

# Settings an untrusted folder may set as it likes.
_FREE = {
    ("model_backend", "temperature"),
    ("model_backend", "max_tokens"),
    ("model_backend", "stream"),
    ("model_backend", "default_context_window"),
    ("agent", "system_prompt"),
    ("logging", "level"),
    ("logging", "format"),
    ("permissions", "deny"),
    ("permissions", "ask"),
} | {("retry", f.name) for f in fields(SECTIONS["retry"])}
# How the context is kept small is the folder's to choose; which model summarises is not
# (it could send the conversation and a key elsewhere).
_FREE |= {("context", f.name) for f in fields(SECTIONS["context"]) if f.name != "summary_model"}
# Limits an untrusted folder may only lower (None: no limit).
_LOWER_ONLY = {
    ("model_backend", "request_timeout"),
    ("model_backend", "total_timeout"),
    ("agent", "max_turns"),
    ("agent", "max_cost"),
    ("agent", "timeout"),
    ("agent", "tool_timeout"),
    ("tools", "max_file_size"),
    ("tools", "bash_timeout"),
    ("tools", "output_limit"),
}
# Switches an untrusted folder may only turn to this value.
_ONLY_TO = {
    ("tools", "enabled"): False,
    ("session", "save"): False,
    ("logging", "redact_sensitive"): True,
    ("observability", "record_content"): False,
}


def trust_path() -> Path:
    """`$XDG_CONFIG_HOME/mamba/trusted-folders.toml`."""
    return config_home() / TRUST_FILE


def trusted_folders() -> list[Path]:
    """The folders the user trusts (each with everything below it)."""
    path = trust_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    folders = data.get("trusted", {}).get("folders", [])
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        raise ConfigError(f"{path}: trusted.folders must be a list of paths")
    return [Path(f) for f in folders]


def is_trusted(folder: str | os.PathLike[str]) -> bool:
    """Whether the user trusts `folder` (or a folder above it)."""
    real = Path(folder).resolve()
    return any(real == t or real.is_relative_to(t) for t in trusted_folders())


def _write(folders: list[Path]) -> Path:
    """Replace the trust file at once."""
    path = trust_path()
    document = {"trusted": {"folders": sorted({str(f) for f in folders})}}
    write_toml(
        path, "Folders whose config.toml and .env mamba obeys in full. Edit freely.", document
    )
    return path


def trust_folder(folder: str | os.PathLike[str]) -> Path:
    """Trust a folder (and everything below it); returns the trust file's path."""
    real = Path(folder).resolve()
    if not real.is_dir():
        raise ConfigError(f"{folder}: no such directory")
    return _write([*trusted_folders(), real])


def untrust_folder(folder: str | os.PathLike[str]) -> bool:
    """Stop trusting a folder; False when it was not in the list."""
    real = Path(folder).resolve()
    folders = trusted_folders()
    if real not in folders:
        return False
    _write([f for f in folders if f != real])
    return True


def restrict_layer(
    layer: dict[str, dict[str, Any]],
    below: dict[str, dict[str, Any]],
    coerce: Callable[[Any, Any, str], Any],
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """What an untrusted folder's layer may set, given the raw values the layers `below`
    it set, and the `section.key` names it may not set."""
    kept: dict[str, dict[str, Any]] = {}
    ignored: list[str] = []
    for section, values in layer.items():
        if section == "models":
            kept["models"] = {name: _without_prices(name, o, ignored) for name, o in values.items()}
            continue
        if section == "mcp":
            kept["mcp"] = values  # its servers start only once the user approves each
            continue
        for key, value in values.items():
            allowed = _permitted(section, key, value, below.get(section, {}), coerce)
            if allowed is _REFUSED:
                ignored.append(f"{section}.{key}")
            else:
                kept.setdefault(section, {})[key] = allowed
    return kept, ignored


_REFUSED = object()
_PRICES = ("input_price", "output_price", "cache_read_price", "cache_write_price")


def _without_prices(name: str, override: Any, ignored: list[str]) -> Any:
    """A `[models."name"]` entry without its prices (they decide what a budget allows)."""
    priced = [p for p in _PRICES if getattr(override, p) is not None]
    ignored += [f'models."{name}".{p}' for p in priced]
    return dataclasses.replace(override, **dict.fromkeys(priced))


def _permitted(
    section: str,
    key: str,
    value: Any,
    below: dict[str, Any],
    coerce: Callable[[Any, Any, str], Any],
) -> Any:
    """The value an untrusted folder may set for a key, or _REFUSED."""
    pair, where = (section, key), f"{section}.{key}"
    cls = SECTIONS[section]
    hint = typing.get_type_hints(cls)[key]
    current = coerce(below[key], hint, where) if key in below else getattr(cls(), key)
    mine = coerce(value, hint, where)
    if pair in _FREE or mine == current:
        return value
    if pair == ("model_backend", "model"):
        # Another model of the same provider: the same key goes to the same place.
        return value if _provider(mine) == _provider(current) else _REFUSED
    if pair in _ONLY_TO:
        return value if mine is _ONLY_TO[pair] else _REFUSED
    if pair in _LOWER_ONLY:
        lower = mine is not None and (current is None or mine <= current)
        return value if lower else _REFUSED
    if pair == ("tools", "denied_extensions"):
        return list(dict.fromkeys([*current, *mine]))
    if pair == ("tools", "allowed_extensions"):
        narrowed = [e for e in mine if e in current] if current else mine
        return narrowed if narrowed else _REFUSED
    return _REFUSED


def _provider(model: str) -> str:
    """The provider part of a model string (a bare name is an OpenAI model)."""
    provider, slash, _ = model.partition("/")
    return provider if slash else "openai"
