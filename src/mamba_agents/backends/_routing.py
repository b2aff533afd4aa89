"""Which transport and endpoint a model string uses."""

from __future__ import annotations

from dataclasses import dataclass

LOCAL_BASE_URLS = {
    "ollama": "http://localhost:11434/v1",
    "vllm": "http://localhost:8000/v1",
    "lmstudio": "http://localhost:1234/v1",
    "llamacpp": "http://localhost:8080/v1",
}
OPENAI_BASE_URL = "https://api.openai.com/v1"
NATIVE_PROVIDERS = {"openai": OPENAI_BASE_URL, **LOCAL_BASE_URLS}
KEY_VARIABLES = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "bedrock": "AWS_ACCESS_KEY_ID",
    "vertex_ai": "GOOGLE_APPLICATION_CREDENTIALS",
}

# Providers whose own endpoint refuses every request without an API key: a missing key is
# said before anything is sent. (Bedrock and Vertex find credentials in other places.)
KEY_REQUIRED = frozenset(
    {
        "openai",
        "anthropic",
        "gemini",
        "together_ai",
        "mistral",
        "groq",
        "deepseek",
        "openrouter",
        "cohere",
        "xai",
        "fireworks_ai",
        "perplexity",
    }
)


@dataclass(frozen=True)
class ModelRoute:
    """How to reach a model: `model` is the full `provider/name` string."""

    model: str
    provider: str
    name: str
    transport: str
    base_url: str | None
    key_variable: str | None
    custom_endpoint: bool = False
    """Whether the address was given (`--base-url`) rather than the provider's own."""

    @property
    def needs_key(self) -> bool:
        """Whether requests cannot succeed without an API key: the provider's own endpoint
        of a provider that always asks for one."""
        return self.provider in KEY_REQUIRED and not self.custom_endpoint


def split_model(model: str) -> tuple[str, str]:
    """`provider/name` -> (provider, name); a bare name is an OpenAI model."""
    provider, sep, name = model.partition("/")
    if not sep:
        return "openai", model
    return provider, name


def resolve_route(
    model: str, *, base_url: str | None = None, transport: str = "auto"
) -> ModelRoute:
    """Choose the transport by the design's rules.

    `openai/*`, the local providers and any model with an explicit `base_url` use the native
    OpenAI-compatible transport; every other provider goes through LiteLLM. `transport`
    (`native` or `litellm`) forces a choice.
    """
    provider, name = split_model(model)
    full = f"{provider}/{name}"
    key_variable = (
        None
        if provider in LOCAL_BASE_URLS
        else (KEY_VARIABLES.get(provider) or f"{provider.upper()}_API_KEY")
    )
    if transport == "auto":
        transport = "native" if base_url or provider in NATIVE_PROVIDERS else "litellm"
    if transport == "native":
        wire_name = name if provider in NATIVE_PROVIDERS else full
        return ModelRoute(
            model=full,
            provider=provider,
            name=wire_name,
            transport="native",
            base_url=(base_url or NATIVE_PROVIDERS.get(provider) or OPENAI_BASE_URL).rstrip("/"),
            key_variable=key_variable,
            custom_endpoint=bool(base_url),
        )
    return ModelRoute(full, provider, name, "litellm", base_url, key_variable, bool(base_url))
