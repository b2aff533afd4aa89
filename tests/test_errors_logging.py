"""Retry decorator, circuit breaker and redacted logging work as documented."""

from __future__ import annotations

import asyncio
import logging

import pytest
from conftest import wait_until

from mamba_agents.config import LoggingConfig
from mamba_agents.errors import (
    CircuitBreaker,
    CircuitOpenError,
    ModelBackendError,
    RateLimitError,
    create_retry_decorator,
)
from mamba_agents.observability import redact, setup_logging


def test_retry_decorator_retries_retryable_errors_sync_and_async():
    calls = []

    @create_retry_decorator(max_attempts=3, base_wait=0.001)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RateLimitError("slow down", retry_after=0)
        return "ok"

    assert flaky() == "ok" and len(calls) == 3

    attempts = []

    @create_retry_decorator(max_attempts=3, base_wait=0.001)
    async def fatal() -> None:
        attempts.append(1)
        raise ModelBackendError("bad request", status_code=400)

    with pytest.raises(ModelBackendError):
        asyncio.run(fatal())
    assert len(attempts) == 1


def failing_calls(breaker: CircuitBreaker, count: int) -> None:
    async def fail():
        async with breaker:
            raise ValueError("down")

    for _ in range(count):
        with pytest.raises(ValueError):
            asyncio.run(fail())


def test_circuit_breaker_refuses_calls_while_open():
    breaker = CircuitBreaker("model-api", failure_threshold=2, timeout=60)
    failing_calls(breaker, 1)
    assert breaker.state == "closed"
    failing_calls(breaker, 1)
    assert breaker.state == "open"

    async def call():
        async with breaker:
            return "called"

    with pytest.raises(CircuitOpenError):
        asyncio.run(call())


def test_circuit_breaker_allows_a_trial_after_its_timeout_and_closes_on_success():
    breaker = CircuitBreaker("model-api", failure_threshold=2, timeout=0.05)
    failing_calls(breaker, 2)
    assert wait_until(lambda: breaker.state == "half_open")
    with breaker:
        pass
    assert breaker.state == "closed"


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer sk-live-abcdefghijklmnop",
        "key is sk-proj-abcdefghijklmnop in the middle",
        "api_key=supersecretvalue123",
        '{"api_key": "supersecretvalue123"}',
        "send it with: Bearer abcdefghijklmnop.qrstu",
    ],
)
def test_redaction(text):
    masked = redact(text)
    assert "abcdefghijklmnop" not in masked and "supersecretvalue123" not in masked
    assert "****" in masked


def test_logging_redacts_secrets_passed_as_arguments(tmp_path):
    log_file = tmp_path / "mamba.log"
    logger = setup_logging(LoggingConfig(level="INFO", format="json", file=str(log_file)))
    logger.info("calling with key %s and %s", "sk-abcdefghijklmnopqrs", {"token": "t0ps3cr3t"})
    logging.getLogger("mamba_agents.backends").warning("Authorization: Bearer xyz-123456789")
    for handler in logger.handlers:
        handler.flush()
    text = log_file.read_text()
    assert "sk-abcdefghijklmnopqrs" not in text and "t0ps3cr3t" not in text
    assert "xyz-123456789" not in text
    assert text.count('"level": ') == 2


def test_logging_level_and_redaction_switch(tmp_path):
    log_file = tmp_path / "plain.log"
    logger = setup_logging(LoggingConfig(level="ERROR", redact_sensitive=False, file=str(log_file)))
    logger.warning("hidden by level")
    logger.error("api_key=visible123")
    for handler in logger.handlers:
        handler.flush()
    assert log_file.read_text() == "ERROR mamba_agents: api_key=visible123\n"
