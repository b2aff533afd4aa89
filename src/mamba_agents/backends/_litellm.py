"""The LiteLLM transport, for providers without an OpenAI-compatible endpoint.

litellm is imported on first use only: it costs seconds of start-up.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from mamba_agents.backends._base import (
    Completion,
    ModelRequest,
    StreamAssembler,
    TextChunk,
    completion_from_response,
    error_for_status,
    parse_retry_after,
)
from mamba_agents.errors import ModelBackendError, ModelTimeoutError


def import_litellm() -> Any:
    """Import litellm offline-safe and quiet: local price map, nothing on stdout."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return litellm


class LiteLLMBackend:
    """Any LiteLLM provider (`anthropic/...`, `gemini/...`, `bedrock/...`, ...)."""

    transport = "litellm"

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        stream: bool = True,
        key_variable: str | None = None,
    ):
        self.model = model
        self.display_model = model
        self.api_base = api_base
        self.stream = stream
        self.timeout = timeout
        self.key_variable = key_variable
        self._api_key = api_key

    def _kwargs(self, request: ModelRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "timeout": self.timeout,
            "num_retries": 0,
        }
        if request.tools:
            kwargs["tools"] = request.tools
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.max_tokens is not None:
            kwargs["max_tokens"] = request.max_tokens
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self._api_key:
            kwargs["api_key"] = self._api_key
        if self.stream:
            kwargs["stream"] = True
            kwargs["stream_options"] = {"include_usage": True}
        return kwargs

    async def complete(self, request: ModelRequest) -> AsyncIterator[TextChunk | Completion]:
        litellm = import_litellm()
        try:
            response = await litellm.acompletion(**self._kwargs(request))
            if not self.stream:
                yield completion_from_response(response.model_dump())
                return
            assembler = StreamAssembler()
            async for chunk in response:
                text = assembler.feed(chunk.model_dump(exclude_none=True))
                if text:
                    yield TextChunk(text)
            yield assembler.completion()
        except ModelBackendError:
            raise
        except Exception as exc:
            raise self._translate(exc) from None

    def _translate(self, exc: Exception) -> ModelBackendError:
        name = type(exc).__name__
        if "Timeout" in name:
            return ModelTimeoutError(f"{self.model}: request timed out ({name})")
        status = getattr(exc, "status_code", None)
        message = str(getattr(exc, "message", None) or exc)
        if isinstance(status, int) and status >= 400:
            retry_after = None
            headers = getattr(getattr(exc, "response", None), "headers", None) or {}
            if "retry-after" in headers:
                retry_after = parse_retry_after(headers["retry-after"])
            return error_for_status(
                status,
                message,
                model=self.model,
                key_variable=self.key_variable,
                retry_after=retry_after,
            )
        retryable = name in ("APIConnectionError", "InternalServerError", "ServiceUnavailableError")
        return ModelBackendError(f"{self.model}: {name}: {message[:300]}", retryable=retryable)

    async def aclose(self) -> None:
        return None
