"""Logging with secrets redacted: API keys never reach a log line."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable

from mamba_agents.config import LoggingConfig
from mamba_agents.errors import ConfigError

__all__ = ["LOGGER_NAME", "mask_values", "redact", "setup_logging"]

LOGGER_NAME = "mamba_agents"
_SECRET_PATTERNS = [
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)(authorization\W{0,3}\s*(?:bearer|basic)\s+)[^\s'\",]+"),
    re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|token|secret|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
]


def redact(text: str) -> str:
    """`text` with bearer tokens, `sk-...` keys and `key=value` secrets masked."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "****", text)
    return text


def mask_values(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of the given secret values (API keys the user
    configured) replaced by `****`."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "****")
    return text


class _RedactingFilter(logging.Filter):
    """Formats the message with its arguments first, so secrets passed as args are masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


def _file_handler(path: str) -> logging.Handler:
    try:
        return logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"logging.file {path}: cannot open: {exc.strerror or exc}") from None


def setup_logging(config: LoggingConfig | None = None, *, verbose: bool = False) -> logging.Logger:
    """Configure the `mamba_agents` logger: stderr (or `config.file`), text or JSON lines.

    `verbose` lowers the level to DEBUG. Calling it again replaces the previous handler.
    """
    config = config or LoggingConfig()
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    handler: logging.Handler = (
        _file_handler(config.file) if config.file else logging.StreamHandler(sys.stderr)
    )
    if config.format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if config.redact_sensitive:
        handler.addFilter(_RedactingFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else config.level)
    logger.propagate = False
    return logger
