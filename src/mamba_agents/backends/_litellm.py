"""The LiteLLM transport, for providers without an OpenAI-compatible endpoint.

litellm is imported on first use only: it costs seconds of start-up.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import AsyncIterator
from typing import Any

from mamba_agents.backends._base import (
    MAX_TOOL_ARGUMENTS,
    Completion,
    Deadline,
    ModelRequest,
    StreamAssembler,
    TextChunk,
    completion_from_response,
    describe_body,
    error_for_status,
    parse_retry_after,
    redacted,
    timeout_error,
)
from mamba_agents.errors import ModelBackendError
from mamba_agents.observability import NO_EXCHANGE, LoggedExchange, RequestLog


def import_litellm() -> Any:
    """Import litellm offline-safe and quiet: local price map, nothing on stdout, and no
    pydantic warnings on stderr about malformed provider fields. Not in its "DEV" mode,
    which loads the first `.env` file it finds into the process environment: a folder's
    `.env` must not send requests or keys elsewhere (OPENAI_BASE_URL, HTTPS_PROXY)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_MODE", "PRODUCTION")
    import litellm

    warnings.filterwarnings("ignore", message="Pydantic serializer warnings")
    # A request cut short by a time limit leaves one of LiteLLM's own coroutines unawaited.
    warnings.filterwarnings(
        "ignore",
        message="coroutine 'OpenAIChatCompletion.*' was never awaited",
        category=RuntimeWarning,
    )

    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return litellm


class LiteLLMBackend:
    """Any LiteLLM provider (`anthropic/...`, `gemini/...`, `bedrock/...`, ...).

    `timeout` is LiteLLM's own (connecting and each wait for data); `total_timeout`, when
    given, bounds a whole request, streamed answer included. A tool call's arguments are kept
    up to `max_tool_arguments` characters. `request_log` records every request (the key
    left out) and response.
    """

    transport = "litellm"

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        total_timeout: float | None = None,
        stream: bool = True,
        key_variable: str | None = None,
        max_tool_arguments: int = MAX_TOOL_ARGUMENTS,
        request_log: RequestLog | None = None,
    ):
        self.model = model
        self.request_log = request_log
        self.display_model = model
        self.api_base = api_base
        self.stream = stream
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.max_tool_arguments = max_tool_arguments
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
        litellm = import_litellm()  # before the clock starts: importing it takes seconds
        kwargs = self._kwargs(request)
        exchange = NO_EXCHANGE
        if self.request_log is not None:
            body = {k: v for k, v in kwargs.items() if k != "api_key"}
            exchange = self.request_log.start(
                transport=self.transport, model=self.model, url=self.api_base, body=body
            )
        try:
            async for item in self._exchange(
                litellm, kwargs, Deadline(self.total_timeout), exchange
            ):
                yield item
        except ModelBackendError as exc:
            error = redacted(exc, (self._api_key,))
            exchange.fail(str(error))
            raise error from None
        finally:
            exchange.close()

    async def _exchange(
        self, litellm: Any, kwargs: dict[str, Any], deadline: Deadline, exchange: LoggedExchange
    ) -> AsyncIterator[TextChunk | Completion]:
        try:
            response = await deadline.wait(litellm.acompletion(**kwargs))
            if not self.stream:
                body = response.model_dump()
                exchange.body(body)
                yield completion_from_response(body, self.max_tool_arguments)
                return
            self._check_stream(response)
            assembler = StreamAssembler(self.max_tool_arguments)
            while (chunk := await deadline.wait(anext(response, None))) is not None:
                data = chunk.model_dump(exclude_none=True)
                exchange.chunk(data)
                text = assembler.feed(data)
                if text:
                    yield TextChunk(text)
            yield assembler.completion()
        except ModelBackendError:
            raise
        except Exception as exc:
            raise self._translate(exc, deadline) from None

    def _check_stream(self, response: Any) -> None:
        """Refuse an HTML page where a stream was expected (LiteLLM would make it an empty
        answer)."""
        headers = (getattr(response, "_hidden_params", None) or {}).get("additional_headers")
        content_type = (headers or {}).get("llm_provider-content-type", "")
        if content_type.partition(";")[0].strip().lower() == "text/html":
            raise ModelBackendError(
                f"{self.model}: expected an event stream, got {content_type}; "
                "check the endpoint (--base-url)"
            )

    def _translate(self, exc: Exception, deadline: Deadline) -> ModelBackendError:
        name = type(exc).__name__
        if _timed_out(exc):
            return timeout_error(self.model, deadline, f"{self.model}: request timed out ({name})")
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
        return ModelBackendError(
            f"{self.model}: {name}: {describe_body(message)}", retryable=retryable
        )

    async def aclose(self) -> None:
        return None


def _timed_out(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it wraps, is a timeout (LiteLLM wraps them in others)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError) or "Timeout" in type(current).__name__:
            return True
        current = (
            getattr(current, "original_exception", None) or current.__cause__ or current.__context__
        )
    return False
