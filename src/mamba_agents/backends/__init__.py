"""Model transports behind one interface, and model profiles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mamba_agents.backends._base import Backend, Completion, ModelRequest, TextChunk
from mamba_agents.backends._profiles import (
    ModelProfile,
    get_profile,
    known_models,
    litellm_package_dir,
)
from mamba_agents.backends._retry import (
    OnRetry,
    breaker_for,
    complete_with_retries,
    reset_breakers,
)
from mamba_agents.backends._routing import ModelRoute, resolve_route

if TYPE_CHECKING:
    from mamba_agents.config import AgentSettings

__all__ = [
    "Backend",
    "Completion",
    "LiteLLMBackend",
    "ModelProfile",
    "ModelRequest",
    "ModelRoute",
    "OnRetry",
    "OpenAICompatibleBackend",
    "TextChunk",
    "breaker_for",
    "complete_with_retries",
    "create_backend",
    "create_lmstudio_backend",
    "create_ollama_backend",
    "create_vllm_backend",
    "get_profile",
    "known_models",
    "litellm_package_dir",
    "reset_breakers",
    "resolve_route",
]

_LAZY = {
    "OpenAICompatibleBackend": "mamba_agents.backends._openai_compat",
    "create_ollama_backend": "mamba_agents.backends._openai_compat",
    "create_vllm_backend": "mamba_agents.backends._openai_compat",
    "create_lmstudio_backend": "mamba_agents.backends._openai_compat",
    "LiteLLMBackend": "mamba_agents.backends._litellm",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mamba_agents.backends' has no attribute {name!r}")


def api_key_for(route: ModelRoute, settings: AgentSettings) -> str | None:
    """The configured key, else the provider's variable (environment or .env files)."""
    if settings.model_backend.api_key:
        return settings.model_backend.api_key.get()
    if route.key_variable:
        return settings.provider_env.get(route.key_variable) or None
    return None


def create_backend(route: ModelRoute, settings: AgentSettings) -> Backend:
    """The transport for `route`, configured from `settings.model_backend` (and the raw
    request log of `settings.observability.log_requests`)."""
    cfg = settings.model_backend
    key = api_key_for(route, settings)
    if key is None and route.needs_key:
        from mamba_agents.errors import AuthenticationError

        raise AuthenticationError(
            f"{route.model}: no API key; set {route.key_variable} (or "
            "MAMBA_MODEL_BACKEND__API_KEY, or model_backend.api_key in the config)"
        )
    request_log = None
    if settings.observability.log_requests:
        from mamba_agents.observability import RequestLog

        request_log = RequestLog(settings.observability.log_requests, settings.secret_values())
    if route.transport == "native":
        from mamba_agents.backends._openai_compat import OpenAICompatibleBackend

        return OpenAICompatibleBackend(
            route.name,
            route.base_url or "",
            key,
            timeout=cfg.request_timeout,
            total_timeout=cfg.total_timeout,
            stream=cfg.stream,
            display_model=route.model,
            key_variable=route.key_variable,
            request_log=request_log,
        )
    from mamba_agents.backends._litellm import LiteLLMBackend

    return LiteLLMBackend(
        route.model,
        api_base=route.base_url,
        api_key=key,
        timeout=cfg.request_timeout,
        total_timeout=cfg.total_timeout,
        stream=cfg.stream,
        key_variable=route.key_variable,
        request_log=request_log,
    )
