"""The settings sections: plain dataclasses whose fields are the documented keys."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

__all__ = [
    "COMPACTION_STRATEGIES",
    "SECRET_NAME",
    "AgentDefaultsConfig",
    "CompactionConfig",
    "LoggingConfig",
    "ModelBackendConfig",
    "ModelOverride",
    "ObservabilityConfig",
    "PermissionsConfig",
    "RetryConfig",
    "Secret",
    "SessionConfig",
    "StoreConfig",
    "ToolsConfig",
    "is_secret_name",
]


# Names of environment variables that hold secrets (`*_API_KEY`, `*_TOKEN`, ...).
SECRET_NAME = re.compile(r"(API_?KEY|_KEY$|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.I)


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret."""
    return SECRET_NAME.search(name) is not None


class Secret:
    """A secret string (an API key): masked in repr, str and every output."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get(self) -> str:
        """The secret itself; pass it only to the party that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass
class ModelBackendConfig:
    """`[model_backend]`: which model, where, and how requests are made."""

    model: str = "ollama/llama3.2"
    base_url: str | None = None
    api_key: Secret | None = None
    transport: str = "auto"
    request_timeout: float = 120.0
    total_timeout: float | None = None
    stream: bool = True
    temperature: float | None = None
    max_tokens: int | None = None
    default_context_window: int = 8192

    def __post_init__(self) -> None:
        if isinstance(self.api_key, str):
            self.api_key = Secret(self.api_key)


@dataclass
class AgentDefaultsConfig:
    """`[agent]`: defaults of every run."""

    system_prompt: str = ""
    max_turns: int = 25
    max_cost: float | None = None
    timeout: float | None = None
    tool_timeout: float = 120.0


@dataclass
class RetryConfig:
    """`[retry]`: model request retries. `max_retries` overrides the level's count.

    After `circuit_failure_threshold` requests in a row to one model endpoint failed (each
    after its retries), further requests to it fail at once for `circuit_timeout` seconds;
    0 turns the circuit breaker off.
    """

    retry_level: int = 2
    max_retries: int | None = None
    base_wait: float = 1.0
    max_wait: float = 30.0
    circuit_failure_threshold: int = 5
    circuit_timeout: float = 30.0

    _LEVELS: ClassVar[dict[int, tuple[int, float]]] = {1: (2, 2.0), 2: (3, 1.5), 3: (5, 1.2)}

    @property
    def model_retries(self) -> int:
        """How many times a failed model request is retried."""
        if self.max_retries is not None:
            return self.max_retries
        return self._LEVELS[self.retry_level][0]

    @property
    def multiplier(self) -> float:
        """The exponential backoff multiplier of the level."""
        return self._LEVELS[self.retry_level][1]


@dataclass
class LoggingConfig:
    """`[logging]`: diagnostics on stderr or in a file; secrets are redacted."""

    level: str = "WARNING"
    format: str = "text"
    redact_sensitive: bool = True
    file: str | None = None


@dataclass
class ObservabilityConfig:
    """`[observability]`: OpenTelemetry export and the raw request log.

    Spans are exported over OTLP/HTTP to `otlp_endpoint` (else the standard
    `OTEL_EXPORTER_OTLP_ENDPOINT`); with neither set nothing is exported. Prompt, answer
    and tool texts go into spans only with `record_content`. `log_requests` names a file
    that every raw model request and response is appended to.
    """

    otlp_endpoint: str | None = None
    service_name: str | None = None
    record_content: bool = False
    log_requests: str | None = None


@dataclass
class SessionConfig:
    """`[session]`: whether runs are saved as session files."""

    save: bool = True


@dataclass
class StoreConfig:
    """`[store]`: where sessions are kept, and who the requests made here are recorded as.

    `url` is empty for the session files (the default) or a `postgresql://` URL of a shared
    store; its password may instead come from `PGPASSWORD` or `~/.pgpass`. `user` defaults
    to the operating system's user name.
    """

    url: Secret | None = None
    user: str | None = None


@dataclass
class ToolsConfig:
    """`[tools]`: the built-in tools and their sandbox (owned by the runtime)."""

    enabled: bool = True
    sandbox: str | None = None
    allowed_extensions: list[str] = field(default_factory=list)
    denied_extensions: list[str] = field(default_factory=list)
    max_file_size: int = 10_000_000
    bash_timeout: float = 30.0
    output_limit: int = 30_000


@dataclass
class PermissionsConfig:
    """`[permissions]`: rules such as `run_bash(git *)` or `write_file(src/**)`."""

    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    ask: list[str] = field(default_factory=list)


COMPACTION_STRATEGIES = (
    "sliding_window",
    "summarize_older",
    "selective_pruning",
    "importance_scoring",
    "hybrid",
)


@dataclass
class CompactionConfig:
    """`[context]`: when and how a long conversation is made to fit the model's window.

    Compaction starts once the context passes `trigger_threshold_tokens` (unset: that
    `trigger_ratio` of the model's window) and aims at `target_tokens` (unset:
    `target_ratio` of the window). The last `preserve_recent_turns` user turns are always
    kept whole. `summary_model` (unset: the session's model) writes summaries and scores.
    With `auto_compact`, an agent compacts before any model request that would pass the
    trigger. A tool result over `tool_result_max_tokens` (unset: a tenth of the window)
    enters the context cut to its head and tail; the session file keeps it whole.
    """

    strategy: str = "hybrid"
    trigger_threshold_tokens: int | None = None
    target_tokens: int | None = None
    trigger_ratio: float = 0.8
    target_ratio: float = 0.5
    preserve_recent_turns: int = 3
    summary_model: str | None = None
    auto_compact: bool = True
    tool_result_max_tokens: int | None = None

    def __post_init__(self) -> None:
        from mamba_agents.errors import ConfigError

        if self.strategy not in COMPACTION_STRATEGIES:
            choices = ", ".join(COMPACTION_STRATEGIES)
            raise ConfigError(f"context.strategy: must be one of {choices}; got {self.strategy!r}")
        for key in ("trigger_threshold_tokens", "target_tokens", "tool_result_max_tokens"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise ConfigError(f"context.{key}: must be above zero; got {value}")
        for key in ("trigger_ratio", "target_ratio"):
            if not 0 < getattr(self, key) <= 1:
                raise ConfigError(f"context.{key}: must be above 0 and at most 1")
        if self.preserve_recent_turns < 0:
            raise ConfigError("context.preserve_recent_turns: must not be negative")
        if self.target_ratio >= self.trigger_ratio:
            raise ConfigError(
                f"context.target_ratio ({self.target_ratio}) must be below "
                f"context.trigger_ratio ({self.trigger_ratio})"
            )
        trigger, target = self.trigger_threshold_tokens, self.target_tokens
        if trigger is not None and target is not None and target >= trigger:
            raise ConfigError(
                f"context.target_tokens ({target}) must be below "
                f"context.trigger_threshold_tokens ({trigger})"
            )

    def trigger_for(self, window: int) -> int:
        """The token count that starts a compaction, for a model with this window."""
        return self.trigger_threshold_tokens or int(window * self.trigger_ratio)

    def target_for(self, window: int) -> int:
        """The token count a compaction aims at, for a model with this window: below the
        trigger whatever the ratios say (three quarters of it at most, when only the
        trigger is set)."""
        if self.target_tokens:
            return self.target_tokens
        return min(int(window * self.target_ratio), int(self.trigger_for(window) * 0.75))

    def tool_result_limit(self, window: int) -> int:
        """The most tokens one tool result may take in the context."""
        return self.tool_result_max_tokens or max(window // 10, 200)


@dataclass
class ModelOverride:
    """`[models."name"]`: facts about a model that beat the bundled table.

    Prices are USD per million tokens.
    """

    context_window: int | None = None
    max_output_tokens: int | None = None
    input_price: float | None = None
    output_price: float | None = None
    cache_read_price: float | None = None
    cache_write_price: float | None = None
    supports_tools: bool | None = None


SECTIONS: dict[str, type] = {
    "model_backend": ModelBackendConfig,
    "agent": AgentDefaultsConfig,
    "retry": RetryConfig,
    "logging": LoggingConfig,
    "session": SessionConfig,
    "store": StoreConfig,
    "tools": ToolsConfig,
    "permissions": PermissionsConfig,
    "context": CompactionConfig,
    "observability": ObservabilityConfig,
}

CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("model_backend", "transport"): ("auto", "native", "litellm"),
    ("logging", "level"): ("DEBUG", "INFO", "WARNING", "ERROR"),
    ("logging", "format"): ("text", "json"),
    ("context", "strategy"): COMPACTION_STRATEGIES,
}

# Settings that must be above zero: timeouts, waits, budgets, sizes.
POSITIVE: frozenset[tuple[str, str]] = frozenset(
    {
        ("model_backend", "request_timeout"),
        ("model_backend", "total_timeout"),
        ("model_backend", "max_tokens"),
        ("model_backend", "default_context_window"),
        ("agent", "max_cost"),
        ("agent", "timeout"),
        ("agent", "tool_timeout"),
        ("retry", "base_wait"),
        ("retry", "max_wait"),
        ("retry", "circuit_timeout"),
        ("tools", "bash_timeout"),
    }
)

RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("retry", "retry_level"): (1, 3),
    ("agent", "max_turns"): (1, 10_000),
    ("tools", "max_file_size"): (1, 10**12),
    ("tools", "output_limit"): (100, 10**9),
    ("retry", "max_retries"): (0, 20),
    ("retry", "circuit_failure_threshold"): (0, 1000),
    ("model_backend", "temperature"): (0, 2),
}
