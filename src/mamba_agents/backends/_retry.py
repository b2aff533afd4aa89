"""Retrying model requests: 429 (honouring Retry-After), 5xx, timeouts, broken streams.

A request is retried only while nothing of it has been shown: once text has streamed, a
failure is reported instead of repeating the answer. The retry decorator in
`mamba_agents.errors` (tenacity) serves plain functions; a stream needs this loop, and it keeps
tenacity's import off the hot path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from mamba_agents.backends._base import Backend, Completion, ModelRequest, TextChunk
from mamba_agents.config import RetryConfig
from mamba_agents.errors import ModelBackendError, retry_wait

log = logging.getLogger("mamba_agents.backends")
OnRetry = Callable[[int, float, str], None]


async def complete_with_retries(
    backend: Backend,
    request: ModelRequest,
    retry: RetryConfig,
    on_retry: OnRetry | None = None,
) -> AsyncIterator[TextChunk | Completion]:
    """`backend.complete(request)`, retried up to `retry.model_retries` times."""
    attempt = 0
    while True:
        shown = False
        try:
            async for item in backend.complete(request):
                shown = shown or isinstance(item, TextChunk)
                yield item
            return
        except ModelBackendError as exc:
            if shown or not exc.retryable or attempt >= retry.model_retries:
                raise
            attempt += 1
            wait = retry_wait(attempt, exc, retry.base_wait, retry.max_wait, retry.multiplier)
            log.debug("retry %d in %.1f s: %s", attempt, wait, exc)
            if on_retry is not None:
                on_retry(attempt, wait, str(exc))
            await asyncio.sleep(wait)
