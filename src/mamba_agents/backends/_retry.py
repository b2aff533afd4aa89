"""Retrying model requests with tenacity: 429 (honouring Retry-After), 5xx, timeouts,
broken streams.

A request is retried only while nothing of it has been shown: once text has streamed, a
failure is reported instead of repeating the answer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from mamba_agents.backends._base import Backend, Completion, ModelRequest, TextChunk
from mamba_agents.config import RetryConfig
from mamba_agents.errors import ModelBackendError, backoff_wait

log = logging.getLogger("mamba_agents.backends")
OnRetry = Callable[[int, float, str], None]


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
