"""Logging with secrets redacted, spans of what the engine does (`RequestTracer`), their
export to OpenTelemetry (`get_otel_integration`), and the raw request log.

Importing this package imports no OpenTelemetry; only `OTelIntegration.initialize()` does.
"""

from mamba_agents.observability._logging import LOGGER_NAME, mask_values, redact, setup_logging
from mamba_agents.observability._otel import (
    OTelIntegration,
    content_recorded,
    get_otel_integration,
    start_export,
    stop_export,
)
from mamba_agents.observability._request_log import (
    NO_EXCHANGE,
    LoggedExchange,
    RequestLog,
)
from mamba_agents.observability._tracing import (
    RequestTracer,
    Span,
    SpanSink,
    Trace,
    add_span_sink,
    remove_span_sink,
    span,
)

__all__ = [
    "LOGGER_NAME",
    "NO_EXCHANGE",
    "LoggedExchange",
    "OTelIntegration",
    "RequestLog",
    "RequestTracer",
    "Span",
    "SpanSink",
    "Trace",
    "add_span_sink",
    "content_recorded",
    "get_otel_integration",
    "mask_values",
    "redact",
    "remove_span_sink",
    "setup_logging",
    "span",
    "start_export",
    "stop_export",
]
