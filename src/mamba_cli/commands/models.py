"""`mamba models info NAME`: what we know of a model and where it comes from."""

from __future__ import annotations

from typing import Annotated

import typer

from mamba_cli import output

app = typer.Typer(
    help="What mamba knows about models.", no_args_is_help=True, rich_markup_mode=None
)


def _per_million(value: float | None) -> float | None:
    return None if value is None else round(value * 1_000_000, 6)


@app.command("info")
def info(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="provider/model, e.g. openai/gpt-4o.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Provider, transport, context window, output limit, capabilities and prices."""
    from mamba_agents.backends import get_profile, resolve_route
    from mamba_cli.settings import load_settings

    settings = load_settings(ctx)
    route = resolve_route(
        name, base_url=settings.model_backend.base_url, transport=settings.model_backend.transport
    )
    profile = get_profile(route.model, settings)
    sources = {
        "litellm": f"LiteLLM's bundled price table (entry '{profile.table_key}'"
        f"{', litellm ' + _litellm_version() if _litellm_version() else ''})",
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
    data = {
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
    if as_json:
        output.print_json(data)
        return
    prices = data["price_per_million"]

    def money(value: float | None) -> str:
        return "unknown" if value is None else f"${value:g}"

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
            f"input {money(prices['input'])}, output "
            f"{money(prices['output'])}, cache read {money(prices['cache_read'])}, cache write "
            f"{money(prices['cache_write'])}"
            if profile.priced
            else "unpriced",
        ),
        ("source", data["source_detail"]),
    ]
    for label, value in lines:
        print(f"{label:<18} {value}")


def _litellm_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("litellm")
    except PackageNotFoundError:
        return None
