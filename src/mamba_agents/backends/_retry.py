"""Retrying model requests with tenacity: 429 (honouring Retry-After), 5xx, timeouts,
broken streams; and one circuit breaker per model endpoint for the whole process.

A request is retried only while nothing of it has been shown: once text has streamed, a
failure is reported instead of repeating the answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from mamba_agents.backends._base import Backend, Completion, ModelRequest, TextChunk
from mamba_agents.config import RetryConfig
from mamba_agents.errors import CircuitBreaker, ModelBackendError, backoff_wait

log = logging.getLogger("mamba_agents.backends")
OnRetry = Callable[[int, float, str], None]

_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def _endpoint_of(backend: Backend) -> str:
    """What a breaker guards: the model at its address (`model at https://...`)."""
    model = getattr(backend, "display_model", None) or backend.model
    address = getattr(backend, "base_url", None) or getattr(backend, "api_base", None)
    return f"{model} at {address}" if address else model


def _endpoint_failed(exc: BaseException) -> bool:
    """Only failures of the endpoint itself count: errors worth retrying that retrying did
    not cure (5xx, timeouts, 429, broken streams) and failures with no HTTP answer at all
    (an unreachable server); not a request the endpoint answered by refusing it."""
    if not isinstance(exc, ModelBackendError):
        return False
    return exc.retryable or exc.status_code is None


def breaker_for(backend: Backend, retry: RetryConfig) -> CircuitBreaker | None:
    """The process's circuit breaker for `backend`'s endpoint (None when turned off), so
    every agent of a chat, a workflow or an application shares one per endpoint."""
    if retry.circuit_failure_threshold <= 0:
        return None
    endpoint = _endpoint_of(backend)
    with _breakers_lock:
        breaker = _breakers.get(endpoint)
        if breaker is None:
            breaker = CircuitBreaker(
                endpoint,
                retry.circuit_failure_threshold,
                retry.circuit_timeout,
                is_failure=_endpoint_failed,
            )
            _breakers[endpoint] = breaker
        breaker.failure_threshold = retry.circuit_failure_threshold
        breaker.timeout = retry.circuit_timeout
        return breaker


def reset_breakers() -> None:
    """Forget every endpoint's failures (close every circuit)."""
    with _breakers_lock:
        _breakers.clear()


async def complete_with_retries(
    backend: Backend,
    request: ModelRequest,
    retry: RetryConfig,
    on_retry: OnRetry | None = None,
) -> AsyncIterator[TextChunk | Completion]:
    """`backend.complete(request)`, retried up to `retry.model_retries` times."""
    import tenacity

    shown = False

    def retryable(exc: BaseException) -> bool:
        return isinstance(exc, ModelBackendError) and exc.retryable and not shown

    def before_sleep(state: Any) -> None:
        reason = str(state.outcome.exception())
        wait = state.next_action.sleep
        log.debug("retry %d in %.1f s: %s", state.attempt_number, wait, reason)
        if on_retry is not None:
            on_retry(state.attempt_number, wait, reason)

    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(retry.model_retries + 1),
        wait=backoff_wait(retry.base_wait, retry.max_wait, retry.multiplier),
        retry=tenacity.retry_if_exception(retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            async for item in backend.complete(request):
                shown = shown or isinstance(item, TextChunk)
                yield item
