"""Exception hierarchy, exit codes, retry helpers and a circuit breaker."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "AgentError",
    "AuthenticationError",
    "BudgetExceededError",
    "CircuitBreaker",
    "CircuitOpenError",
    "ConfigError",
    "ContextWindowExceededError",
    "ExitCode",
    "MaxTurnsError",
    "ModelBackendError",
    "ModelTimeoutError",
    "RateLimitError",
    "SessionError",
    "ToolExecutionError",
    "create_retry_decorator",
    "limit_error",
    "retry_wait",
]


class ExitCode:
    """Process exit codes of the `mamba` command (documented in the README)."""

    OK = 0
    RUNTIME = 1
    USAGE = 2
    MAX_TURNS = 3
    BUDGET = 4
    TIMEOUT = 124
    INTERRUPTED = 130

    @staticmethod
    def for_status(status: str) -> int:
        """The exit code of a run that ended with `status` (a `RunResult.status`)."""
        return _EXIT_FOR_STATUS.get(status, ExitCode.RUNTIME)


_EXIT_FOR_STATUS = {
    "success": ExitCode.OK,
    "error": ExitCode.RUNTIME,
    "max_turns": ExitCode.MAX_TURNS,
    "max_cost": ExitCode.BUDGET,
    "timeout": ExitCode.TIMEOUT,
    "interrupted": ExitCode.INTERRUPTED,
}


class AgentError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = ExitCode.RUNTIME


class ConfigError(AgentError):
    """Invalid configuration or usage; the message names the file, key or argument."""

    exit_code = ExitCode.USAGE


class SessionError(AgentError):
    """A session could not be found, read or written."""


class ModelBackendError(AgentError):
    """The model provider failed (after retries where retrying made sense)."""

    def __init__(self, message: str, *, status_code: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable


class RateLimitError(ModelBackendError):
    """HTTP 429 from the provider; `retry_after` holds the server's hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message, status_code=429, retryable=True)
        self.retry_after = retry_after


class AuthenticationError(ModelBackendError):
    """HTTP 401/403: never retried; the message names the variable to set."""


class ModelTimeoutError(ModelBackendError):
    """A request to the provider timed out."""

    def __init__(self, message: str):
        super().__init__(message, retryable=True)


class ContextWindowExceededError(ModelBackendError):
    """The provider refused the request because the prompt does not fit the model's context
    window; `prompt_tokens` and `window` hold the sizes when the provider said them."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = 400,
        prompt_tokens: int | None = None,
        window: int | None = None,
    ):
        super().__init__(message, status_code=status_code)
        self.prompt_tokens = prompt_tokens
        self.window = window


class ToolExecutionError(AgentError):
    """A tool failed; inside the agent loop this becomes a tool-result message."""


class MaxTurnsError(AgentError):
    """The run needed more model requests than `max_turns` allows."""

    exit_code = ExitCode.MAX_TURNS


class BudgetExceededError(AgentError):
    """The run's cost reached `max_cost`."""

    exit_code = ExitCode.BUDGET


def limit_error(status: str, message: str) -> AgentError | None:
    """The exception `Agent.run` raises for a run a limit stopped (None: no limit did)."""
    kind = {
        "max_turns": MaxTurnsError,
        "max_cost": BudgetExceededError,
        "timeout": ModelTimeoutError,
    }.get(status)
    return kind(message) if kind is not None else None


class CircuitOpenError(ModelBackendError):
    """The circuit breaker is open: calls are refused until `retry_at` (a wall-clock time)."""

    def __init__(self, message: str, *, retry_at: float):
        super().__init__(message)
        self.retry_at = retry_at


def create_retry_decorator(
    max_attempts: int = 3,
    base_wait: float = 1.0,
    max_wait: float = 30.0,
    multiplier: float = 2.0,
    retry_on: tuple[type[BaseException], ...] = (ModelBackendError,),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return a tenacity decorator (sync or async functions) with exponential backoff.

    `ModelBackendError`s are retried only when marked `retryable`; a `RateLimitError`'s
    `retry_after` is honoured (capped at `max_wait`).
    """
    import tenacity

    def should_retry(exc: BaseException) -> bool:
        if isinstance(exc, ModelBackendError):
            return exc.retryable
        return isinstance(exc, retry_on)

    return tenacity.retry(
        stop=tenacity.stop_after_attempt(max_attempts),
        wait=backoff_wait(base_wait, max_wait, multiplier),
        retry=tenacity.retry_if_exception(should_retry),
        reraise=True,
    )


def backoff_wait(base_wait: float, max_wait: float, multiplier: float) -> Callable[[Any], float]:
    """A tenacity wait function: Retry-After when the server gave one, else exponential."""

    def wait(retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        return retry_wait(retry_state.attempt_number, exc, base_wait, max_wait, multiplier)

    return wait


def retry_wait(
    attempt: int, exc: BaseException | None, base_wait: float, max_wait: float, multiplier: float
) -> float:
    """Seconds to wait before retry number `attempt` (1-based) after `exc`."""
    hint = getattr(exc, "retry_after", None)
    if hint is not None:
        return min(max(hint, 0.0), max_wait)
    return min(base_wait * multiplier ** (attempt - 1), max_wait)


class CircuitBreaker:
    """Refuse calls for `timeout` seconds after `failure_threshold` consecutive failures,
    then let one trial call through (half-open): its success closes the circuit, its
    failure opens it again.

    Use as `async with breaker:` (or `with breaker:`) around the guarded call. `is_failure`
    says which exceptions count against the service (default: every `Exception`); any
    other outcome shows the service answering and closes the circuit.
    """

    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        timeout: float = 30.0,
        *,
        is_failure: Callable[[BaseException], bool] | None = None,
    ):
        self.name = name
        self.failure_threshold = failure_threshold
        self.timeout = timeout
        self.failure_count = 0
        self._is_failure = is_failure or (lambda exc: isinstance(exc, Exception))
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        """`closed`, `open`, or `half_open` (one trial call allowed)."""
        if self._opened_at is None:
            return "closed"
        if time.monotonic() - self._opened_at >= self.timeout:
            return "half_open"
        return "open"

    @property
    def retry_at(self) -> float | None:
        """When (wall-clock, as `time.time()`) the next trial call is allowed; None while
        closed."""
        if self._opened_at is None:
            return None
        return time.time() + max(self._opened_at + self.timeout - time.monotonic(), 0.0)

    def _enter(self) -> None:
        state = self.state
        if state == "open" or (state == "half_open" and self._trial_running):
            retry_at = self.retry_at or time.time()
            wait = max(retry_at - time.time(), 0.0)
            when = time.strftime("%H:%M:%S", time.localtime(retry_at))
            raise CircuitOpenError(
                f"{self.name}: {self.failure_count} calls in a row failed; not trying again "
                f"until {when} (in {wait:.0f} s)",
                retry_at=retry_at,
            )
        self._trial_running = state == "half_open"

    def _exit(self, exc: BaseException | None) -> None:
        self._trial_running = False
        if exc is not None and not isinstance(exc, Exception):
            return  # cancelled: says nothing about the service
        if exc is not None and self._is_failure(exc):
            self.failure_count += 1
            if self.failure_count >= self.failure_threshold:
                self._opened_at = time.monotonic()
        else:
            self.failure_count = 0
            self._opened_at = None

    def __enter__(self) -> CircuitBreaker:
        self._enter()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self._exit(exc)
        return False

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        return self.__exit__(exc_type, exc, tb)
