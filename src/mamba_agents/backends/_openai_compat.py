"""The native OpenAI-compatible transport: httpx, SSE streaming, tool-call deltas, usage."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from mamba_agents.backends._base import (
    Completion,
    ModelRequest,
    StreamAssembler,
    TextChunk,
    completion_from_response,
    error_for_status,
    parse_retry_after,
)
from mamba_agents.backends._routing import LOCAL_BASE_URLS, OPENAI_BASE_URL
from mamba_agents.errors import ModelBackendError, ModelTimeoutError

log = logging.getLogger("mamba_agents.backends")


class OpenAICompatibleBackend:
    """A chat-completions endpoint (OpenAI, Ollama, vLLM, LM Studio, llama.cpp, proxies).

    `model` is the name sent on the wire; `api_key` is sent as a Bearer token when given.
    """

    transport = "native"

    def __init__(
        self,
        model: str,
        base_url: str = OPENAI_BASE_URL,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        stream: bool = True,
        display_model: str | None = None,
        key_variable: str | None = None,
    ):
        self.model = model
        self.display_model = display_model or model
        self.base_url = base_url.rstrip("/")
        self.stream = stream
        self.key_variable = key_variable
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            trust_env=False,
        )

    def _payload(self, request: ModelRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model, "messages": request.messages}
        if request.tools:
            payload["tools"] = request.tools
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.max_tokens is not None:
            payload["max_tokens"] = request.max_tokens
        if self.stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return payload

    async def complete(self, request: ModelRequest) -> AsyncIterator[TextChunk | Completion]:
        url = f"{self.base_url}/chat/completions"
        log.debug("POST %s model=%s messages=%d", url, self.model, len(request.messages))
        try:
            async with self._client.stream("POST", url, json=self._payload(request)) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response)
                if self.stream:
                    async for item in self._read_stream(response):
                        yield item
                else:
                    await response.aread()
                    yield completion_from_response(_json_body(response))
        except httpx.TimeoutException as exc:
            raise ModelTimeoutError(
                f"{self.display_model}: request to {url} timed out ({type(exc).__name__})"
            ) from None
        except httpx.ConnectError as exc:
            raise ModelBackendError(self._connect_hint(exc)) from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ModelBackendError(
                f"{self.display_model}: connection to {self.base_url} failed: {reason}",
                retryable=True,
            ) from None

    async def _read_stream(self, response: httpx.Response) -> AsyncIterator[TextChunk | Completion]:
        assembler = StreamAssembler()
        done = False
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                raise ModelBackendError(
                    f"{self.display_model}: invalid JSON in the response stream: {data[:120]!r}",
                    retryable=True,
                ) from None
            text = assembler.feed(chunk)
            if text:
                yield TextChunk(text)
        if not done and assembler.finish_reason is None:
            raise ModelBackendError(
                f"{self.display_model}: the response stream ended before the answer was complete",
                retryable=True,
            )
        yield assembler.completion()

    def _status_error(self, response: httpx.Response) -> ModelBackendError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return error_for_status(
            response.status_code,
            body,
            model=self.display_model,
            key_variable=self.key_variable,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )

    def _connect_hint(self, exc: Exception) -> str:
        provider = self.display_model.partition("/")[0]
        if provider in LOCAL_BASE_URLS:
            advice = (
                f"is {provider} running? Start it, or choose another model with --model "
                "(or MAMBA_MODEL_BACKEND__MODEL)"
            )
        else:
            advice = "check the endpoint (--base-url) or choose another model with --model"
        reason = str(exc) or "connection refused"
        return f"cannot connect to {self.display_model} at {self.base_url} ({reason}); {advice}"

    async def aclose(self) -> None:
        await self._client.aclose()


def _json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ModelBackendError(
            f"invalid JSON in response: {response.text[:120]!r}", retryable=True
        ) from None
    if not isinstance(body, dict):
        raise ModelBackendError("response body is not a JSON object", retryable=True)
    return body


def create_ollama_backend(
    model: str = "llama3.2", base_url: str | None = None, **kwargs: Any
) -> OpenAICompatibleBackend:
    """A backend for an Ollama server (default `http://localhost:11434/v1`)."""
    return OpenAICompatibleBackend(
        model, base_url or LOCAL_BASE_URLS["ollama"], display_model=f"ollama/{model}", **kwargs
    )


def create_vllm_backend(
    model: str, base_url: str | None = None, **kwargs: Any
) -> OpenAICompatibleBackend:
    """A backend for a vLLM server (default `http://localhost:8000/v1`)."""
    return OpenAICompatibleBackend(
        model, base_url or LOCAL_BASE_URLS["vllm"], display_model=f"vllm/{model}", **kwargs
    )


def create_lmstudio_backend(
    model: str = "local-model", base_url: str | None = None, **kwargs: Any
) -> OpenAICompatibleBackend:
    """A backend for LM Studio's server (default `http://localhost:1234/v1`)."""
    return OpenAICompatibleBackend(
        model, base_url or LOCAL_BASE_URLS["lmstudio"], display_model=f"lmstudio/{model}", **kwargs
    )
