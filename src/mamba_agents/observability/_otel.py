"""OpenTelemetry export of the engine's spans, over OTLP.

OpenTelemetry is an optional extra (`pip install "mamba-agents[otel]"`): nothing here
imports it until `initialize()` runs, and that runs only when the user asked for export
(`[observability] otlp_endpoint`, or the standard `OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_TRACES_EXPORTER` variables).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from mamba_agents.config import ObservabilityConfig
from mamba_agents.observability._tracing import Span, add_span_sink, remove_span_sink, span

__all__ = [
    "OTelIntegration",
    "content_recorded",
    "export_requested",
    "get_otel_integration",
    "start_export",
    "stop_export",
]

log = logging.getLogger("mamba_agents.observability")

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_TIMEOUT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
_EXPORT_TIMEOUT = 3.0  # seconds, unless the standard variables say otherwise
_CONTENT_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_INSTALL_HINT = 'install it with: pip install "mamba-agents[otel]"'


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def content_recorded(config: ObservabilityConfig, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether prompts, answers and tool texts may go into spans: only when the user
    opted in (`record_content`, or the GenAI conventions' capture variable)."""
    return config.record_content or _true(environ.get(_CONTENT_VARIABLE))


def export_requested(config: ObservabilityConfig, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the settings or the standard variables ask for spans to be exported."""
    if _true(environ.get("OTEL_SDK_DISABLED")):
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(
        config.otlp_endpoint or exporter or any(environ.get(v) for v in _ENDPOINT_VARIABLES)
    )


class _FirstExportError(logging.Handler):
    """The OpenTelemetry SDK logs each failed export (and each retry) in its own words, on
    every batch; this says the first one once, as one of mamba's warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.said = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.said:
            self.said = True
            reason = record.getMessage().splitlines()[0][:200]
            log.warning("OpenTelemetry export failed (spans may be lost): %s", reason)


def _report_export_errors_once() -> None:
    otel_log = logging.getLogger("opentelemetry")
    if not any(isinstance(h, _FirstExportError) for h in otel_log.handlers):
        otel_log.addHandler(_FirstExportError())
        otel_log.propagate = False


class _OTelSink:
    """Mirrors each span as an OpenTelemetry span, made current while it runs so spans of
    other instrumented code (the MCP SDK's) nest inside it."""

    def __init__(self, tracer: Any):
        from opentelemetry import context, trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self._tracer = tracer
        self._context, self._trace = context, trace
        self._kinds = {"client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}
        self._error = lambda message: Status(StatusCode.ERROR, message)

    def on_start(self, span: Span) -> Any:
        otel_span = self._tracer.start_span(
            span.name,
            kind=self._kinds.get(span.kind, self._kinds["internal"]),
            start_time=int(span.start_time * 1e9),
        )
        token = self._context.attach(self._trace.set_span_in_context(otel_span))
        return otel_span, token

    def on_end(self, span: Span, state: Any) -> None:
        otel_span, token = state
        with contextlib.suppress(ValueError):
            self._context.detach(token)
        otel_span.set_attributes(span.attributes)
        if span.status == "error":
            otel_span.set_status(self._error(span.status_message))
        otel_span.end(end_time=int((span.end_time or span.start_time) * 1e9))


class OTelIntegration:
    """Exports the engine's spans to OpenTelemetry once `initialize()` succeeded.

    Uses the application's tracer provider when it set one; otherwise sets up its own,
    exporting over OTLP/HTTP (`otlp_endpoint`, else the standard `OTEL_*` variables) in
    batches, and flushed by `shutdown()` or at exit.
    """

    def __init__(
        self,
        config: ObservabilityConfig | None = None,
        environ: Mapping[str, str] | None = None,
    ):
        self.config = config or ObservabilityConfig()
        self.environ = os.environ if environ is None else environ
        self.reason: str | None = None
        """Why `initialize()` returned False."""
        self._sink: _OTelSink | None = None
        self._provider: Any = None  # the provider this object set up (None: the app's)

    @property
    def initialized(self) -> bool:
        return self._sink is not None

    @property
    def record_content(self) -> bool:
        return content_recorded(self.config, self.environ)

    def initialize(self) -> bool:
        """Start exporting; False (the reason logged and in `reason`) when the
        OpenTelemetry SDK is missing or turned off."""
        if self._sink is not None:
            return True
        if self.reason is not None:
            return False  # said once already
        if _true(self.environ.get("OTEL_SDK_DISABLED")):
            return self._decline("OTEL_SDK_DISABLED is set")
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
        except ImportError:
            return self._decline(f"the OpenTelemetry SDK is not installed; {_INSTALL_HINT}")
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            try:
                provider = self._own_provider()
            except ImportError as exc:
                return self._decline(f"{exc.name or exc} is missing; {self._install_hint()}")
            except ValueError as exc:
                return self._decline(str(exc))
            trace.set_tracer_provider(provider)
            self._provider = provider
        from mamba_agents import __version__

        _report_export_errors_once()
        self._sink = _OTelSink(provider.get_tracer("mamba_agents", __version__))
        add_span_sink(self._sink)
        self.reason = None
        return True

    def _install_hint(self) -> str:
        if self._protocol() == "grpc":
            return "install it with: pip install opentelemetry-exporter-otlp-proto-grpc"
        return _INSTALL_HINT

    def _protocol(self) -> str:
        env = self.environ
        return (
            env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        )

    def _decline(self, reason: str) -> bool:
        self.reason = reason
        log.warning("OpenTelemetry export is off: %s", reason)
        return False

    def _own_provider(self) -> Any:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        attributes = {}
        if self.config.service_name or not self.environ.get("OTEL_SERVICE_NAME"):
            attributes["service.name"] = self.config.service_name or "mamba"
        provider = TracerProvider(resource=Resource.create(attributes))
        exporter = self._exporter()
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        return provider

    def _exporter(self) -> Any:
        env = self.environ
        if not export_requested(self.config, env):
            log.info("no OTLP endpoint is set: spans are not exported")
            return None
        kind = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
        if kind == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            return ConsoleSpanExporter(out=sys.stderr)  # stdout carries answers only
        if kind != "otlp":
            raise ValueError(f"OTEL_TRACES_EXPORTER={kind} is not supported (otlp, console)")
        protocol = self._protocol()
        endpoint = self.config.otlp_endpoint
        options: dict[str, Any] = {}
        if not any(env.get(v) for v in _TIMEOUT_VARIABLES):
            options["timeout"] = _EXPORT_TIMEOUT  # a collector that is down delays exit little
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            if endpoint:
                options["endpoint"] = endpoint
            return OTLPSpanExporter(**options)
        if protocol != "http/protobuf":
            raise ValueError(f"OTLP protocol {protocol} is not supported (http/protobuf, grpc)")
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        if endpoint:  # the base address, as OTEL_EXPORTER_OTLP_ENDPOINT (or the full one)
            endpoint = endpoint.rstrip("/")
            traces = endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"
            options["endpoint"] = traces
        return OTLPSpanExporter(**options)

    def force_flush(self, timeout_seconds: float = 5.0) -> None:
        """Send the spans still waiting in the batch."""
        if self._provider is not None:
            self._provider.force_flush(int(timeout_seconds * 1000))

    def shutdown(self) -> None:
        """Flush and stop exporting."""
        if self._sink is not None:
            remove_span_sink(self._sink)
            self._sink = None
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = None

    @contextlib.contextmanager
    def trace_agent_run(
        self, prompt: str, model: str | None = None, **attributes: Any
    ) -> Iterator[Span]:
        """A span around an agent run; the run's own spans nest inside it. The prompt's
        text is recorded only when content recording is on."""
        with span(
            "agent_run",
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.request.model": model,
                "mamba.prompt.length": len(prompt),
                **attributes,
            },
        ) as opened:
            if self.record_content:
                opened.set_attribute("mamba.prompt", prompt)
            yield opened


_integration: OTelIntegration | None = None


def get_otel_integration(config: ObservabilityConfig | None = None) -> OTelIntegration:
    """The process's OpenTelemetry integration (one per process: OpenTelemetry's tracer
    provider is global). `config` applies until it is initialized."""
    global _integration
    if _integration is None:
        _integration = OTelIntegration(config)
    elif config is not None and not _integration.initialized:
        _integration.config = config
    return _integration


def start_export(config: ObservabilityConfig) -> OTelIntegration | None:
    """Initialize the integration when the settings or the standard variables ask for
    export (importing nothing otherwise); it, or None."""
    if not export_requested(config):
        return None
    integration = get_otel_integration(config)
    return integration if integration.initialize() else None


def stop_export() -> None:
    """Send the spans still waiting and stop exporting (before the process exits)."""
    if _integration is not None:
        _integration.shutdown()
