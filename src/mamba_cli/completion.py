"""Values a shell offers when completing an option or argument: fixed choices, model names
and providers (from the bundled price table and the config, litellm not imported), report
groupings and session ids (from the file names, no file read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer


def choices(*values: str) -> Callable[[str], list[str]]:
    """A completer offering `values`."""

    def complete(incomplete: str) -> list[str]:
        return [value for value in values if value.startswith(incomplete)]

    return complete


def _settings(ctx: typer.Context) -> Any:
    """The settings the command would read, or None when they cannot be read: completing
    never prints an error."""
    from mamba_agents.config import AgentSettings
    from mamba_agents.errors import AgentError

    try:
        return AgentSettings(config_file=ctx.find_root().params.get("config"))
    except AgentError:
        return None


def model_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Every known model as `provider/name`, an OpenAI model's bare name too (`gpt-4o`),
    and the names configured under [models."..."]."""
    from mamba_agents.backends import known_models

    settings = _settings(ctx)
    names = set(settings.models) if settings is not None else set()
    for profile in known_models(settings):
        names.add(profile.name)
        if profile.provider == "openai":
            names.add(profile.name.partition("/")[2])
    return sorted(name for name in names if name.startswith(incomplete))


def provider_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """The providers of the known models."""
    from mamba_agents.backends import known_models

    providers = {profile.provider for profile in known_models(_settings(ctx))}
    return sorted(name for name in providers if name.startswith(incomplete))


def report_groupings(incomplete: str) -> list[str]:
    """What `mamba usage --by` groups by."""
    from mamba_agents.usage import GROUPINGS

    return [name for name in GROUPINGS if name.startswith(incomplete)]


def session_ids(incomplete: str) -> list[str]:
    """The saved sessions' ids, newest first, from the store the settings name."""
    from mamba_agents.config import AgentSettings
    from mamba_agents.errors import AgentError
    from mamba_agents.store import open_store

    try:
        ids = open_store(AgentSettings()).ids()
    except AgentError:
        return []
    return [session_id for session_id in ids if session_id.startswith(incomplete)]
