"""The native OpenAI-compatible transport: httpx, SSE streaming, tool-call deltas, usage."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from mamba_agents.backends._base import (
    MAX_TOOL_ARGUMENTS,
    Completion,
    Deadline,
    ModelRequest,
    StreamAssembler,
    TextChunk,
    completion_from_response,
    error_for_status,
    one_line,
    parse_retry_after,
    redacted,
    timeout_error,
    unexpected_content,
)
from mamba_agents.backends._routing import LOCAL_BASE_URLS, OPENAI_BASE_URL
from mamba_agents.errors import ModelBackendError
from mamba_agents.observability import NO_EXCHANGE, LoggedExchange, RequestLog

log = logging.getLogger("mamba_agents.backends")

_EVENT_STREAM = "text/event-stream"
_ERROR_BODY_LIMIT = 65_536


class OpenAICompatibleBackend:
    """A chat-completions endpoint (OpenAI, Ollama, vLLM, LM Studio, llama.cpp, proxies).

    `model` is the name sent on the wire; `api_key` is sent as a Bearer token when given.
    `timeout` bounds connecting and each wait for data (so also the gap between two pieces
    of a stream); `total_timeout`, when given, bounds a whole request, streamed answer
    included. A tool call's arguments are kept up to `max_tool_arguments` characters.
    `request_log` records every request and response body.
    """

    transport = "native"

    def __init__(
        self,
        model: str,
        base_url: str = OPENAI_BASE_URL,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        total_timeout: float | None = None,
        stream: bool = True,
        display_model: str | None = None,
        key_variable: str | None = None,
        max_tool_arguments: int = MAX_TOOL_ARGUMENTS,
        request_log: RequestLog | None = None,
    ):
        self.model = model
        self.request_log = request_log
        self.display_model = display_model or model
        self.base_url = base_url.rstrip("/")
        self.stream = stream
        self.key_variable = key_variable
        self.total_timeout = total_timeout
        self.max_tool_arguments = max_tool_arguments
        self._secrets = (api_key,)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        """The HTTP client of the running event loop: its kept-alive connections belong to
        that loop, so the next loop (`run_sync` starts one per call) gets a new client."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(
                headers=self._headers, timeout=self._timeout, trust_env=False
            )
            self._client_loop = loop
        return self._client

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
        payload = self._payload(request)
        exchange = NO_EXCHANGE
        if self.request_log is not None:
            exchange = self.request_log.start(
                transport=self.transport, model=self.display_model, url=url, body=payload
            )
        try:
            async for item in self._exchange(url, payload, Deadline(self.total_timeout), exchange):
                yield item
        except ModelBackendError as exc:
            error = redacted(exc, self._secrets)
            exchange.fail(str(error))
            raise error from None
        finally:
            exchange.close()

    async def _exchange(
        self, url: str, payload: dict[str, Any], deadline: Deadline, exchange: LoggedExchange
    ) -> AsyncIterator[TextChunk | Completion]:
        log.debug("POST %s model=%s messages=%d", url, self.model, len(payload["messages"]))
        try:
            client = self._http()
            http_request = client.build_request("POST", url, json=payload)
            response = await deadline.wait(client.send(http_request, stream=True))
            exchange.status(response.status_code)
            try:
                await self._check(response, deadline, exchange)
                if self.stream:
                    async for item in self._read_stream(response, deadline, exchange):
                        yield item
                else:
                    await deadline.wait(response.aread())
                    body = self._json_body(response)
                    exchange.body(body)
                    yield completion_from_response(body, self.max_tool_arguments)
            finally:
                await response.aclose()
        except (TimeoutError, httpx.TimeoutException) as exc:
            message = f"{self.display_model}: request to {url} timed out ({type(exc).__name__})"
            raise timeout_error(self.display_model, deadline, message) from None
        except httpx.ConnectError as exc:
            raise ModelBackendError(self._connect_hint(exc)) from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ModelBackendError(
                f"{self.display_model}: connection to {self.base_url} failed: {reason}",
                retryable=True,
            ) from None

    async def _check(
        self, response: httpx.Response, deadline: Deadline, exchange: LoggedExchange
    ) -> None:
        """Raise when the response is not an answer: a redirect, an error status, or
        something other than the event stream asked for."""
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("location") or "an unknown address"
            raise ModelBackendError(
                f"{self.display_model}: HTTP {status} from {self.base_url}: redirected to "
                f"{location}; set --base-url to the final address",
                status_code=status,
            )
        if status >= 400:
            raise self._status_error(response, await _head(response, deadline, exchange))
        content_type = response.headers.get("content-type", "")
        media = content_type.partition(";")[0].strip().lower()
        if self.stream and media and media != _EVENT_STREAM:
            text = await _head(response, deadline, exchange)
            raise self._unexpected(response, "an event stream", text)

    def _unexpected(self, response: httpx.Response, expected: str, body: str) -> ModelBackendError:
        content_type = response.headers.get("content-type", "no content type")
        text = unexpected_content(response.status_code, content_type, expected, _parsed(body))
        return ModelBackendError(f"{self.display_model}: {text}", status_code=response.status_code)

    async def _read_stream(
        self, response: httpx.Response, deadline: Deadline, exchange: LoggedExchange
    ) -> AsyncIterator[TextChunk | Completion]:
        assembler = StreamAssembler(self.max_tool_arguments)
        done = False
        lines = response.aiter_lines()
        while (line := await deadline.wait(anext(lines, None))) is not None:
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            chunk = self._chunk(data)
            exchange.chunk(chunk)
            text = assembler.feed(chunk)
            if text:
                yield TextChunk(text)
        if not done and assembler.finish_reason is None:
            raise ModelBackendError(
                f"{self.display_model}: the response stream ended before the answer was complete",
                retryable=True,
            )
        yield assembler.completion()

    def _chunk(self, data: str) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict):
            raise ModelBackendError(
                f"{self.display_model}: invalid JSON in the response stream: "
                f"{one_line(data, 120)!r}",
                retryable=True,
            )
        return chunk

    def _json_body(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
        if "json" not in response.headers.get("content-type", "json"):
            raise self._unexpected(response, "a JSON response", response.text[:_ERROR_BODY_LIMIT])
        raise ModelBackendError(
            f"{self.display_model}: invalid JSON in the response: {one_line(response.text, 120)!r}",
            retryable=True,
        )

    def _status_error(self, response: httpx.Response, text: str) -> ModelBackendError:
        return error_for_status(
            response.status_code,
            _parsed(text),
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
        client, self._client = self._client, None
        if client is not None and self._client_loop is asyncio.get_running_loop():
            await client.aclose()


def _parsed(text: str) -> Any:
    """A body as JSON when it is JSON, else as text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


async def _head(response: httpx.Response, deadline: Deadline, exchange: LoggedExchange) -> str:
    """The start of a body that is not the answer (an error page), read up to a limit,
    and logged as the exchange's response."""

    async def read() -> str:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= _ERROR_BODY_LIMIT:
                break
        data = b"".join(chunks)[:_ERROR_BODY_LIMIT]
        return data.decode(response.encoding or "utf-8", "replace")

    text = await deadline.wait(read())
    exchange.body(_parsed(text))
    return text


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
