"""`mamba models info NAME` and `mamba models list`: what we know of models and where it
comes from."""

from __future__ import annotations

import fnmatch
import functools
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mamba_cli import output
from mamba_cli.completion import model_names, provider_names
from mamba_cli.tables import Column, print_table

if TYPE_CHECKING:
    from mamba_agents.backends import ModelProfile
    from mamba_agents.config import AgentSettings

app = typer.Typer(
    help="What mamba knows about models.", no_args_is_help=True, rich_markup_mode=None
)


def _per_million(value: float | None) -> float | None:
    return None if value is None else round(value * 1_000_000, 6)


def _money(value: float | None, unknown: str = "unknown") -> str:
    """A price per million tokens: `$2.5`; `unknown` for none."""
    return unknown if value is None else f"${value:g}"


def _facts(profile: ModelProfile, settings: AgentSettings) -> dict[str, Any]:
    """What `models info --json` prints of a model's profile: its route under the
    settings, limits, capabilities, prices per million tokens and their source."""
    from mamba_agents.backends import resolve_route

    route = resolve_route(
        profile.name,
        base_url=settings.model_backend.base_url,
        transport=settings.model_backend.transport,
    )
    version = _litellm_version()
    sources = {
        "litellm": f"LiteLLM's bundled price table (entry '{profile.table_key}'"
        f"{', litellm ' + version if version else ''})",
        "config": f'[models."..."] in config (on top of the table entry {profile.table_key!r})'
        if profile.table_key
        else '[models."..."] in config',
        "local": "local model: free unless a price is configured"
        + (
            f" (limits from LiteLLM's table entry '{profile.table_key}')"
            if profile.table_key
            else ""
        ),
        "unknown": "not in the price table: unpriced, default context window",
    }
    return {
        "model": route.model,
        "provider": route.provider,
        "transport": route.transport,
        "endpoint": route.base_url or "the provider's own (via LiteLLM)",
        "api_key_variable": route.key_variable,
        "context_window": profile.context_window,
        "max_output_tokens": profile.max_output_tokens,
        "supports_tools": profile.supports_tools,
        "supports_vision": profile.supports_vision,
        "price_per_million": {
            "input": _per_million(profile.input_cost_per_token),
            "output": _per_million(profile.output_cost_per_token),
            "cache_read": _per_million(profile.cache_read_cost_per_token),
            "cache_write": _per_million(profile.cache_write_cost_per_token),
        },
        "priced": profile.priced,
        "source": profile.source,
        "source_detail": sources.get(profile.source, profile.source),
    }


@app.command("info")
def info(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(help="provider/model, e.g. openai/gpt-4o.", autocompletion=model_names),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Provider, transport, context window, output limit, capabilities and prices."""
    from mamba_agents.backends import get_profile
    from mamba_cli.settings import load_settings

    settings = load_settings(ctx)
    profile = get_profile(name, settings)
    data = _facts(profile, settings)
    if as_json:
        output.print_json(data)
        return
    prices = data["price_per_million"]
    lines = [
        ("model", data["model"]),
        ("provider", data["provider"]),
        ("transport", f"{data['transport']} ({data['endpoint']})"),
        ("API key from", data["api_key_variable"] or "none needed"),
        (
            "context window",
            f"{profile.context_window:,} tokens" if profile.context_window else "unknown",
        ),
        (
            "max output",
            f"{profile.max_output_tokens:,} tokens" if profile.max_output_tokens else "unknown",
        ),
        ("tools", "yes" if profile.supports_tools else "no"),
        ("vision", "yes" if profile.supports_vision else "no"),
        (
            "price / 1M tokens",
            f"input {_money(prices['input'])}, output "
            f"{_money(prices['output'])}, cache read {_money(prices['cache_read'])}, cache write "
            f"{_money(prices['cache_write'])}"
            if profile.priced
            else "unpriced",
        ),
        ("source", data["source_detail"]),
    ]
    for label, value in lines:
        print(f"{label:<18} {value}")


def _matches(model: str, pattern: str) -> bool:
    """Whether `model` contains `pattern` (any case), or, for a glob (`*`, `?`, `[`),
    whether the glob matches the whole `provider/name` or the name alone."""
    model, pattern = model.lower(), pattern.lower()
    if not any(char in pattern for char in "*?["):
        return pattern in model
    name = model.partition("/")[2]
    return fnmatch.fnmatchcase(model, pattern) or fnmatch.fnmatchcase(name, pattern)


@app.command("list")
def list_models(
    ctx: typer.Context,
    pattern: Annotated[
        str | None,
        typer.Argument(help="Only models whose name contains this, or matches this glob."),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider", "-p", help="Only this provider's models.", autocompletion=provider_names
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The chat models of LiteLLM's price table and those configured under [models."..."]:
    context window, prices per million tokens, tool support."""
    from mamba_agents.backends import known_models
    from mamba_cli.settings import load_settings

    settings = load_settings(ctx)
    profiles = known_models(settings)
    if provider is not None:
        _check_provider(provider, {p.provider for p in profiles})
        profiles = [p for p in profiles if p.provider == provider]
    if pattern is not None:
        profiles = [p for p in profiles if _matches(p.name, pattern)]
    if as_json:
        output.print_json([_facts(p, settings) for p in profiles])
        return
    if not profiles:
        output.progress("no model matches")
        return
    columns = [
        Column("model", wrap=True),
        Column("provider", wrap=True),
        Column("context", right=True),
        Column("input\n$/1M", right=True),
        Column("output\n$/1M", right=True),
        Column("tools"),
    ]
    rows = [
        (
            p.name,
            p.provider,
            f"{p.context_window:,}" if p.context_window else "-",
            _money(_per_million(p.input_cost_per_token), "-"),
            _money(_per_million(p.output_cost_per_token), "-"),
            "yes" if p.supports_tools else "no",
        )
        for p in profiles
    ]
    print_table(columns, rows)


def _check_provider(provider: str, known: set[str]) -> None:
    """A provider no known model has is a usage error, with the nearest names."""
    import difflib

    from mamba_agents.errors import ConfigError

    if provider not in known:
        near = difflib.get_close_matches(provider, sorted(known), n=3)
        hint = f" (did you mean {' or '.join(near)}?)" if near else ""
        raise ConfigError(f"--provider {provider}: no known model has this provider{hint}")


@functools.cache
def _litellm_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("litellm")
    except PackageNotFoundError:
        return None
