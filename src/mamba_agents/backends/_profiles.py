"""Model facts from LiteLLM's bundled price table, read as a file (litellm is not imported)."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mamba_agents.backends._routing import LOCAL_BASE_URLS, split_model

if TYPE_CHECKING:
    from mamba_agents.config import AgentSettings

TABLE_NAME = "model_prices_and_context_window_backup.json"
# A top-level key starts a line, indented by four spaces (a few entries are not indented).
_KEY_LINE = re.compile(r'^(?:    )?"([^"\n]+)": \{', re.MULTILINE)
_NAME_BOUNDARY = "-:@._"


@dataclass(frozen=True)
class ModelProfile:
    """What we know of a model. Prices are USD per token; None means unknown."""

    name: str
    provider: str
    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_tools: bool = True
    supports_vision: bool = False
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    cache_read_cost_per_token: float | None = None
    cache_write_cost_per_token: float | None = None
    source: str = "unknown"
    table_key: str | None = None

    @property
    def priced(self) -> bool:
        return self.input_cost_per_token is not None and self.output_cost_per_token is not None


def litellm_package_dir() -> Path | None:
    """The installed litellm package folder, found without executing its `__init__`."""
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


class ModelTable:
    """Lazy lookups in the bundled table: an exact key is found by text search and only
    that entry is parsed; prefix matches use an index of key names."""

    def __init__(self, path: Path | None):
        self.path = path
        self._text: str | None = None
        self._keys: list[str] | None = None
        self._entries: dict[str, dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            try:
                self._text = self.path.read_text(encoding="utf-8") if self.path else ""
            except OSError:
                self._text = ""
        return self._text

    def entry(self, key: str) -> dict[str, Any] | None:
        """The table entry for exactly `key`, or None."""
        for indent in ("    ", ""):
            marker = f'\n{indent}"{key}": {{'
            index = self.text.find(marker)
            if index >= 0:
                break
        else:
            return None
        start = index + len(marker) - 1
        try:
            value, _ = json.JSONDecoder().raw_decode(self.text, start)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every model entry of the table, parsed at once (built once)."""
        if self._entries is None:
            try:
                data = json.loads(self.text) if self.text else {}
            except ValueError:
                data = {}
            self._entries = {
                key: value
                for key, value in (data.items() if isinstance(data, dict) else ())
                if isinstance(value, dict) and key != "sample_spec"
            }
        return self._entries

    def keys(self) -> list[str]:
        """Every model key in the table (built once)."""
        if self._keys is None:
            self._keys = [k for k in _KEY_LINE.findall(self.text) if k != "sample_spec"]
        return self._keys

    def longest_prefix(self, name: str) -> str | None:
        """The longest key that `name` starts with, ending at a name boundary."""
        best = None
        for key in self.keys():
            if (
                name.startswith(key)
                and (len(name) == len(key) or name[len(key)] in _NAME_BOUNDARY)
                and (best is None or len(key) > len(best))
            ):
                best = key
        return best


@functools.cache
def bundled_table() -> ModelTable:
    """The table shipped inside the installed litellm package."""
    package = litellm_package_dir()
    return ModelTable(package / TABLE_NAME if package else None)


def _profile_from_entry(name: str, provider: str, key: str, entry: dict[str, Any]) -> ModelProfile:
    def number(field: str) -> float | None:
        value = entry.get(field)
        return float(value) if isinstance(value, int | float) else None

    def integer(field: str) -> int | None:
        value = entry.get(field)
        return int(value) if isinstance(value, int | float) else None

    return ModelProfile(
        name=name,
        provider=provider,
        context_window=integer("max_input_tokens") or integer("max_tokens"),
        max_output_tokens=integer("max_output_tokens"),
        supports_tools=entry.get("supports_function_calling", True) is not False,
        supports_vision=bool(entry.get("supports_vision", False)),
        input_cost_per_token=number("input_cost_per_token"),
        output_cost_per_token=number("output_cost_per_token"),
        cache_read_cost_per_token=number("cache_read_input_token_cost"),
        cache_write_cost_per_token=number("cache_creation_input_token_cost"),
        source="litellm",
        table_key=key,
    )


def lookup_table(model: str, table: ModelTable | None = None) -> ModelProfile | None:
    """Exact match on `provider/name` then `name`; else the longest prefix of either."""
    table = table or bundled_table()
    provider, name = split_model(model)
    candidates = [f"{provider}/{name}", name]
    for key in candidates:
        entry = table.entry(key)
        if entry is not None:
            return _profile_from_entry(f"{provider}/{name}", provider, key, entry)
    for candidate in candidates:
        key = table.longest_prefix(candidate)
        if key is not None:
            entry = table.entry(key)
            if entry is not None:
                return _profile_from_entry(f"{provider}/{name}", provider, key, entry)
    return None


def get_profile(model: str, settings: AgentSettings | None = None) -> ModelProfile:
    """Context window, output limit, tool/vision support and prices of `model`.

    Order: the bundled LiteLLM table, then `[models."name"]` from the settings on top.
    Local providers (ollama, vllm, lmstudio, llamacpp) cost nothing unless configured.
    An unknown model keeps its tools, gets `model_backend.default_context_window`, and is
    unpriced.
    """
    provider, name = split_model(model)
    full = f"{provider}/{name}"
    profile = lookup_table(full) or ModelProfile(name=full, provider=provider)
    return _with_settings(profile, settings, (full, name, model))


def _with_settings(
    profile: ModelProfile, settings: AgentSettings | None, names: tuple[str, ...]
) -> ModelProfile:
    """A table profile with local prices, the first `[models."..."]` entry of `names` and
    the default context window on top."""
    if profile.provider in LOCAL_BASE_URLS:
        profile = replace(
            profile,
            input_cost_per_token=0.0,
            output_cost_per_token=0.0,
            cache_read_cost_per_token=0.0,
            cache_write_cost_per_token=0.0,
            source="local",
        )
    if settings is not None:
        override = next((settings.models[n] for n in names if n in settings.models), None)
        if override is not None:
            profile = _apply_override(profile, override)
        if profile.context_window is None:
            profile = replace(profile, context_window=settings.model_backend.default_context_window)
    return profile


def _table_provider(entry: dict[str, Any]) -> str | None:
    """The provider of a table entry as model strings spell it: the table files Vertex AI's
    partner models under `vertex_ai-<family>` and Bedrock's Converse models under
    `bedrock_converse`."""
    provider = entry.get("litellm_provider")
    if not isinstance(provider, str) or not provider:
        return None
    if provider.startswith("vertex_ai-"):
        return "vertex_ai"
    return "bedrock" if provider == "bedrock_converse" else provider


def known_models(
    settings: AgentSettings | None = None, table: ModelTable | None = None
) -> list[ModelProfile]:
    """Every chat model of the bundled table as `provider/name`, and every model configured
    under `[models."name"]` the table lacks, sorted by name; each as `get_profile` gives it
    (the settings on top)."""
    table = table or bundled_table()
    found: dict[str, ModelProfile] = {}
    for key, entry in table.entries().items():
        provider = _table_provider(entry)
        if entry.get("mode") != "chat" or provider is None:
            continue
        model = key if key.startswith(f"{provider}/") else f"{provider}/{key}"
        if model == key or model not in found:  # an exact key wins, as in lookup_table
            found[model] = _profile_from_entry(model, provider, key, entry)
    profiles = [
        _with_settings(p, settings, (p.name, p.name.partition("/")[2])) for p in found.values()
    ]
    for name in settings.models if settings is not None else ():
        if "/".join(split_model(name)) not in found:
            profiles.append(get_profile(name, settings))
    return sorted(profiles, key=lambda p: p.name)


def _apply_override(profile: ModelProfile, override: Any) -> ModelProfile:
    changes: dict[str, Any] = {"source": "config"}
    per_million = {
        "input_price": "input_cost_per_token",
        "output_price": "output_cost_per_token",
        "cache_read_price": "cache_read_cost_per_token",
        "cache_write_price": "cache_write_cost_per_token",
    }
    for field, target in per_million.items():
        value = getattr(override, field)
        if value is not None:
            changes[target] = value / 1_000_000
    if override.context_window is not None:
        changes["context_window"] = override.context_window
    if override.max_output_tokens is not None:
        changes["max_output_tokens"] = override.max_output_tokens
    if override.supports_tools is not None:
        changes["supports_tools"] = override.supports_tools
    return replace(profile, **changes)
