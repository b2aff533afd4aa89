"""Tracing, OpenTelemetry export, the raw request log and the circuit breaker, through real
runs against the scripted model server: spans are read back from a `RequestTracer`, and
from an OTLP/HTTP endpoint started here (protobuf decoded as a collector would)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import run_mamba, wait_until
from model_server import ScriptedModelServer

from mamba_agents import Agent, AgentSettings
from mamba_agents.backends import breaker_for
from mamba_agents.errors import AgentError, CircuitOpenError, ModelBackendError
from mamba_agents.observability import RequestTracer, Span, Trace, span
from mamba_agents.tools import read_file

KEY = "sk-test-observability-0123456789"


def settings_for(server: ScriptedModelServer, transport: str = "auto", **sections: Any):
    overrides: dict[str, Any] = {
        "model_backend": {
            "model": "openai/gpt-4o",
            "base_url": server.base_url,
            "api_key": KEY,
            "transport": transport,
        },
        "retry": {"base_wait": 0.01},
    }
    for section, values in sections.items():
        overrides.setdefault(section, {}).update(values)
    return AgentSettings(environ={}, load=False, overrides=overrides)


def traced_run(agent: Agent, prompt: str) -> Trace:
    tracer = RequestTracer()
    tracer.start_trace()
    with tracer.start_span("app.request"):
        asyncio.run(agent.run(prompt))
    return tracer.end_trace()


def parent_of(trace: Trace, child: Span) -> Span:
    return next(s for s in trace.spans if s.span_id == child.parent_id)


def every_value(trace: Trace) -> str:
    return json.dumps([s.to_dict() for s in trace.spans])


# -- the tracer alone ---------------------------------------------------------------------------
def test_request_tracer_nests_spans_and_records_times_attributes_and_errors():
    tracer = RequestTracer()
    trace_id = tracer.start_trace()
    with tracer.start_span("agent.run", prompt_length=5) as outer:
        with span("step") as inner:
            inner.set_attribute("count", 2)
            inner.set_attribute("skipped", None)
        with pytest.raises(ValueError), span("broken"):
            raise ValueError("it broke")
    trace = tracer.end_trace()
    assert trace.trace_id == trace_id and [s.name for s in trace.spans] == [
        "agent.run",
        "step",
        "broken",
    ]
    step, broken = trace.spans[1:]
    assert step.parent_id == outer.span_id and broken.parent_id == outer.span_id
    assert outer.attributes == {"prompt_length": 5} and step.attributes == {"count": 2}
    assert outer.status == "ok" and broken.status == "error"
    assert broken.status_message == "it broke" and broken.attributes["error.type"] == "ValueError"
    assert outer.start_time <= step.start_time <= step.end_time <= outer.end_time
    assert trace.roots == [outer] and trace.children(outer) == [step, broken]
    assert {s["name"] for s in trace.to_dict()["spans"]} == {"agent.run", "step", "broken"}
    # Once the trace ended, nothing is recorded (and nothing costs anything).
    with span("after") as after:
        assert not after.recording
    with pytest.raises(AgentError, match="start_trace"):
        tracer.end_trace()


def test_spans_of_another_task_stay_out_of_a_trace_started_elsewhere():
    async def other() -> bool:
        with span("elsewhere") as opened:
            return opened.recording

    async def main() -> tuple[bool, Trace]:
        outside = asyncio.create_task(other())  # started before the trace: not in it
        tracer = RequestTracer()
        tracer.start_trace()
        recorded_outside = await outside
        with tracer.start_span("mine"):
            await asyncio.create_task(other())  # started inside: joins it
        return recorded_outside, tracer.end_trace()

    recorded_outside, trace = asyncio.run(main())
    assert not recorded_outside and [s.name for s in trace.spans] == ["mine", "elsewhere"]


# -- a real run -----------------------------------------------------------------------------------
def test_a_run_is_traced_with_genai_attributes_and_no_content_by_default(server, home):
    (home / "work" / "notes.txt").write_text(f"the notes, and a key: {KEY}\n")
    server.add(
        {"tool_calls": [{"name": "read_file", "arguments": {"path": "notes.txt"}}]},
        {"text": "The notes say hello.", "response_model": "gpt-4o-2024-08-06"},
    )
    agent = Agent(settings=settings_for(server), tools=[read_file], name="helper")
    trace = traced_run(agent, "what do the notes say?")

    names = [s.name for s in trace.spans]
    assert names == [
        "app.request",
        "invoke_agent helper",
        "chat openai/gpt-4o",
        "execute_tool read_file",
        "chat openai/gpt-4o",
    ]
    run = trace.spans[1]
    assert parent_of(trace, run).name == "app.request"
    assert all(parent_of(trace, s) is run for s in trace.spans[2:])
    first, tool, second = trace.spans[2:]
    assert first.kind == "client" and first.end_time <= tool.start_time <= second.start_time

    for request in (first, second):
        assert request.attributes["gen_ai.operation.name"] == "chat"
        assert request.attributes["gen_ai.request.model"] == "openai/gpt-4o"
        assert request.attributes["gen_ai.provider.name"] == "openai"
        assert request.attributes["gen_ai.usage.output_tokens"] > 0
        assert request.attributes["mamba.cost_usd"] > 0
    assert first.attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert second.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert second.attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    # The spans' tokens are what the provider reported, and add up to the run's.
    result = agent.session_usage().total
    assert (
        first.attributes["gen_ai.usage.input_tokens"]
        + second.attributes["gen_ai.usage.input_tokens"]
        == result.usage.prompt_tokens
        == run.attributes["gen_ai.usage.input_tokens"]
    )

    assert tool.attributes["gen_ai.tool.name"] == "read_file"
    assert tool.attributes["gen_ai.tool.call.id"] == "call_0"
    assert tool.attributes["mamba.tool.status"] == "ok" and tool.status == "ok"
    assert run.attributes["gen_ai.agent.name"] == "helper"
    assert (
        run.attributes["mamba.run.status"] == "success" and run.attributes["mamba.run.turns"] == 2
    )

    recorded = every_value(trace)
    assert "gen_ai.input.messages" not in recorded and "gen_ai.tool.call.result" not in recorded
    assert "the notes" not in recorded and "what do the notes say" not in recorded
    assert KEY not in recorded


def test_content_goes_into_spans_only_when_asked_and_secrets_never(server, home):
    (home / "work" / "notes.txt").write_text(f"the notes, and a key: {KEY}\n")
    server.add({"tool_calls": [{"name": "read_file", "arguments": {"path": "notes.txt"}}]})
    settings = settings_for(server, observability={"record_content": True})
    agent = Agent(settings=settings, tools=[read_file])
    trace = traced_run(agent, f"read the notes (my key is {KEY})")

    first, tool, second = (
        trace.find("chat")[0],
        trace.find("execute_tool")[0],
        trace.find("chat")[1],
    )
    assert "read the notes" in first.attributes["gen_ai.input.messages"]
    assert "read_file" in first.attributes["gen_ai.output.messages"]
    assert "the notes, and a key" in tool.attributes["gen_ai.tool.call.result"]
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"path": "notes.txt"}
    assert "You said: read the notes" in second.attributes["gen_ai.output.messages"]
    assert KEY not in every_value(trace) and "****" in tool.attributes["gen_ai.tool.call.result"]


def test_a_failed_request_and_a_refused_tool_are_error_spans(server, home):
    server.add(
        {"tool_calls": [{"name": "run_bash", "arguments": {"command": "ls"}}]},
        {"status": 400, "message": "bad request"},
    )
    from mamba_agents.tools import PermissionPolicy, run_bash

    agent = Agent(settings=settings_for(server), tools=[run_bash], permissions=PermissionPolicy())
    tracer = RequestTracer()
    tracer.start_trace()
    with pytest.raises(ModelBackendError):
        asyncio.run(agent.run("list the files"))
    trace = tracer.end_trace()
    run, first, refused, second = trace.spans
    assert refused.name == "execute_tool run_bash" and refused.status == "error"
    assert refused.attributes["mamba.tool.status"] == "refused"
    assert refused.attributes["error.type"] == "refused"
    assert "permission" in refused.status_message
    assert second.status == "error" and "bad request" in second.status_message
    assert second.attributes["error.type"] == "ModelBackendError"
    assert run.status == "error" and first.status == "ok"


# -- OpenTelemetry --------------------------------------------------------------------------------
class Collector:
    """An OTLP/HTTP endpoint on 127.0.0.1 keeping every exported span, decoded."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        self.spans: list[dict[str, Any]] = []
        self.resources: list[dict[str, Any]] = []
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                request = ExportTraceServiceRequest.FromString(body)
                collector.paths.append(self.path)
                for resource_spans in request.resource_spans:
                    collector.resources.append(_attributes(resource_spans.resource.attributes))
                    for scope in resource_spans.scope_spans:
                        for item in scope.spans:
                            collector.spans.append(
                                {
                                    "name": item.name,
                                    "span_id": item.span_id.hex(),
                                    "parent": item.parent_span_id.hex(),
                                    "trace_id": item.trace_id.hex(),
                                    "kind": item.kind,
                                    "status": item.status.code,
                                    "attributes": _attributes(item.attributes),
                                }
                            )
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def named(self, prefix: str) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["name"].startswith(prefix)]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _attributes(pairs: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        value = pair.value
        kind = value.WhichOneof("value")
        if kind == "array_value":
            values[pair.key] = [getattr(v, v.WhichOneof("value")) for v in value.array_value.values]
        else:
            values[pair.key] = getattr(value, kind)
    return values


@pytest.fixture
def collector() -> Iterator[Collector]:
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is part of the dev install")
    started = Collector()
    yield started
    started.close()


def test_mamba_run_exports_genai_spans_over_otlp(mamba, server, home, collector):
    (home / "work" / "notes.txt").write_text("the notes\n")
    server.add(
        {"tool_calls": [{"name": "read_file", "arguments": {"path": "notes.txt"}}]},
        {"text": "done"},
    )
    result = mamba(
        "run",
        "read the notes",
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
            "OTEL_SERVICE_NAME": "mamba-under-test",
            "OPENAI_API_KEY": KEY,
        },
    )
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert wait_until(lambda: len(collector.named("chat")) == 2)
    assert set(collector.paths) == {"/v1/traces"}
    assert collector.resources[0]["service.name"] == "mamba-under-test"
    (run,) = collector.named("invoke_agent")
    tool = collector.named("execute_tool read_file")[0]
    chats = collector.named("chat")
    assert {s["parent"] for s in [*chats, tool]} == {run["span_id"]}
    assert len({s["trace_id"] for s in collector.spans}) == 1
    assert run["attributes"]["mamba.run.status"] == "success"
    for chat in chats:
        attributes = chat["attributes"]
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.request.model"] == "openai/gpt-4o"
        assert attributes["gen_ai.response.model"] == "gpt-4o"  # the provider's name for it
        assert attributes["gen_ai.usage.input_tokens"] > 0
        assert attributes["gen_ai.usage.output_tokens"] > 0
        assert chat["kind"] == 3  # SPAN_KIND_CLIENT
    assert [c["attributes"]["gen_ai.response.finish_reasons"] for c in chats] == [
        ["tool_calls"],
        ["stop"],
    ]
    everything = json.dumps(collector.spans)
    assert KEY not in everything and "the notes" not in everything


def test_the_observability_setting_exports_but_a_folder_cannot(mamba, server, home, collector):
    config = home / "config" / "mamba"
    config.mkdir(parents=True)
    (config / "config.toml").write_text(
        f'[observability]\notlp_endpoint = "{collector.endpoint}"\nservice_name = "from-settings"\n'
    )
    assert mamba("run", "hello").code == 0
    assert wait_until(lambda: collector.named("invoke_agent"))
    assert collector.resources[0]["service.name"] == "from-settings"

    # A cloned repository's config may not send the conversation anywhere.
    (config / "config.toml").unlink()
    collector.spans.clear()
    (home / "work" / "config.toml").write_text(
        f'[observability]\notlp_endpoint = "{collector.endpoint}"\nrecord_content = true\n'
    )
    result = mamba("run", "hello")
    assert result.code == 0
    assert "observability.otlp_endpoint" in result.stderr and "not trusted" in result.stderr
    assert "record_content" in result.stderr
    assert collector.spans == []


def test_without_export_configured_no_opentelemetry_is_imported(server, home):
    code = (
        "import sys\n"
        "from mamba_cli.main import run_app\n"
        f"args = ['run', 'hi', '--model', 'openai/gpt-4o', '--base-url', '{server.base_url}']\n"
        "code = run_app(args)\n"
        "print(code, sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.splitlines()[-1] == "0 []"


def test_initialize_says_why_when_the_sdk_is_missing():
    code = (
        "import sys, logging\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith('opentelemetry'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "from mamba_agents.observability import get_otel_integration\n"
        "otel = get_otel_integration()\n"
        "print(otel.initialize(), otel.reason)\n"
        "with otel.trace_agent_run('hi', model='openai/gpt-4o') as span:\n"
        "    print(span.recording)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = out.stdout.splitlines()
    assert first.startswith("False the OpenTelemetry SDK is not installed")
    assert "mamba-agents[otel]" in first and second == "False"
    assert "OpenTelemetry export is off" in out.stderr


def test_initialize_exports_the_library_agents_spans(server, collector):
    code = (
        "import asyncio, json, os\n"
        "from mamba_agents import Agent, AgentSettings\n"
        "from mamba_agents.observability import get_otel_integration\n"
        "settings = AgentSettings(environ={}, load=False, overrides={'model_backend': "
        f"{{'model': 'openai/gpt-4o', 'base_url': '{server.base_url}'}}}})\n"
        "otel = get_otel_integration()\n"
        "assert otel.initialize()\n"
        "agent = Agent(settings=settings)\n"
        "with otel.trace_agent_run('hello', model='openai/gpt-4o'):\n"
        "    asyncio.run(agent.run('hello'))\n"
        "otel.shutdown()\n"
    )
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    (outer,) = collector.named("agent_run")
    (run,) = collector.named("invoke_agent")
    assert run["parent"] == outer["span_id"]
    assert outer["attributes"]["gen_ai.request.model"] == "openai/gpt-4o"
    assert "mamba.prompt" not in outer["attributes"]  # content stays out unless asked for


# -- the raw request log --------------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["native", "litellm"])
def test_the_request_log_keeps_each_exchange_assembled_with_keys_masked(server, home, transport):
    log = home / "requests.jsonl"
    server.add(
        {"tool_calls": [{"name": "read_file", "arguments": {"path": "a.txt"}}]},
        {"text": "The file is empty.", "chunks": 4},
    )
    (home / "work" / "a.txt").write_text("")
    settings = settings_for(server, transport, observability={"log_requests": str(log)})
    agent = Agent(settings=settings, tools=[read_file])
    asyncio.run(agent.run("read a.txt"))

    first, second = (json.loads(line) for line in log.read_text().splitlines())
    assert first["request"]["messages"][-1]["content"] == "read a.txt"
    assert first["request"]["tools"][0]["function"]["name"] == "read_file"
    call = first["response"]["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "read_file", "arguments": '{"path": "a.txt"}'}
    assert second["response"]["choices"][0]["message"]["content"] == "The file is empty."
    assert second["response"]["choices"][0]["finish_reason"] == "stop"
    assert second["response"]["usage"]["completion_tokens"] > 0
    assert second["chunks"] >= 4 and second["transport"] == transport
    assert KEY not in log.read_text()
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_the_request_log_keeps_a_failed_exchange_with_its_error_body(mamba, server, home):
    server.add({"status": 401, "echo_auth": True})
    log = home / "requests.jsonl"
    result = mamba("run", "hello", "--log-requests", str(log), env={"OPENAI_API_KEY": KEY})
    assert result.code == 1
    (entry,) = (json.loads(line) for line in log.read_text().splitlines())
    assert entry["status"] == 401 and "Incorrect API key" in entry["response"]["error"]["message"]
    assert entry["error"] and entry["request"]["messages"][-1]["content"] == "hello"
    assert KEY not in log.read_text() and KEY not in result.stderr


def test_a_request_log_that_cannot_be_written_is_a_usage_error(mamba, home):
    result = mamba("run", "hello", "--log-requests", str(home / "missing" / "log.jsonl"))
    assert result.code == 2
    assert result.stderr.strip().startswith("mamba:") and len(result.stderr.splitlines()) == 1
    assert "missing/log.jsonl: cannot write the request log" in result.stderr


# -- the circuit breaker --------------------------------------------------------------------------
def test_the_circuit_opens_after_failures_fails_fast_then_half_opens(server):
    server.add({"status": 503}, {"status": 503})
    settings = settings_for(
        server, retry={"max_retries": 0, "circuit_failure_threshold": 2, "circuit_timeout": 0.5}
    )
    agent = Agent(settings=settings)
    for _ in range(2):
        with pytest.raises(ModelBackendError, match="503"):
            agent.run_sync("hello")
    breaker = breaker_for(agent.backend, settings.retry)
    assert breaker.state == "open"

    with pytest.raises(CircuitOpenError) as refused:
        agent.run_sync("hello")
    assert "2 calls in a row failed; not trying again until" in str(refused.value)
    assert len(server.requests) == 2  # refused without a request

    # Another agent on the same endpoint shares the breaker (a workflow's, a chat's next).
    with pytest.raises(CircuitOpenError):
        Agent(settings=settings).run_sync("hello")

    assert wait_until(lambda: breaker.state == "half_open", timeout=5)
    assert agent.run_sync("hello").output == "You said: hello"
    assert breaker.state == "closed" and len(server.requests) == 3


def test_refused_requests_do_not_open_the_circuit(server):
    server.add(*[{"status": 400, "message": "bad request"}] * 3)
    settings = settings_for(server, retry={"max_retries": 0, "circuit_failure_threshold": 2})
    agent = Agent(settings=settings)
    for _ in range(3):
        with pytest.raises(ModelBackendError, match="bad request"):
            agent.run_sync("hello")
    assert breaker_for(agent.backend, settings.retry).state == "closed"


def test_a_chat_stops_waiting_on_a_dead_endpoint(home, server):
    server.add(*[{"status": 503}] * 2)
    result = run_mamba(
        "chat",
        "--model",
        "openai/gpt-4o",
        "--base-url",
        server.base_url,
        home=home,
        stdin="one\ntwo\nthree\n",
        env={"MAMBA_RETRY__MAX_RETRIES": "0", "MAMBA_RETRY__CIRCUIT_FAILURE_THRESHOLD": "2"},
    )
    said = result.stdout + result.stderr
    assert said.count("error: HTTP 503") == 2 and "not trying again until" in said
    assert len(server.requests) == 2


def test_long_texts_are_cut_in_spans():
    tracer = RequestTracer()
    tracer.start_trace()
    with span("big", {"text": "x" * 200_000, "parts": ["y" * 100_000]}):
        pass
    (big,) = tracer.end_trace().spans
    assert big.attributes["text"].endswith("… [134,464 more characters]")
    assert len(big.attributes["text"]) < 70_000 and len(big.attributes["parts"][0]) < 70_000


def test_the_request_log_stays_json_when_texts_look_like_secrets(server, home):
    def fetch_repo(name: str, token: str) -> str:
        """Fetch a repository.

        Args:
            name: The repository.
            token: An access token.
        """
        return "fetched"

    log = home / "requests.jsonl"
    server.add({"tool_calls": [{"name": "fetch_repo", "arguments": {"name": "x", "token": "t"}}]})
    settings = settings_for(server, observability={"log_requests": str(log)})
    agent = Agent(settings=settings, tools=[fetch_repo])
    asyncio.run(agent.run("fetch x; my password=hunter2 and auth Bearer abcdefghijkl.mnop"))
    entries = [json.loads(line) for line in log.read_text().splitlines()]  # valid JSON
    schema = entries[0]["request"]["tools"][0]["function"]["parameters"]
    assert schema["properties"]["token"] == {"type": "string", "description": "An access token."}
    text = log.read_text()
    assert "hunter2" not in text and "abcdefghijkl" not in text


def test_an_unreachable_endpoint_opens_the_circuit(home):
    from conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    settings = AgentSettings(
        environ={},
        load=False,
        overrides={
            "model_backend": {"model": "openai/gpt-4o", "base_url": url},
            "retry": {"max_retries": 0, "circuit_failure_threshold": 2},
        },
    )
    agent = Agent(settings=settings)
    for _ in range(2):
        with pytest.raises(ModelBackendError, match="cannot connect"):
            agent.run_sync("hello")
    with pytest.raises(CircuitOpenError, match="2 calls in a row failed"):
        agent.run_sync("hello")


def test_initialize_with_nothing_configured_sends_nothing(collector):
    """The SDK's default address is localhost:4318; requests to it go through the proxy the
    environment names, here the collector, so anything sent would arrive there."""
    code = (
        "from mamba_agents.observability import get_otel_integration, span\n"
        "otel = get_otel_integration()\n"
        "print(otel.initialize())\n"
        "with span('work'):\n"
        "    pass\n"
        "otel.shutdown()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env = {k: v for k, v in env.items() if k.lower() not in ("no_proxy", "http_proxy")}
    env["HTTP_PROXY"] = collector.endpoint
    quiet = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert quiet.stdout.strip() == "True" and collector.spans == []
    # The same with the standard variable set: spans go out (through the proxy).
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://localhost:4318"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    assert [s["name"] for s in collector.spans] == ["work"]


def test_a_collector_that_is_down_is_one_warning(mamba, home):
    from conftest import free_port

    down = f"http://127.0.0.1:{free_port()}"
    result = mamba("run", "hi", env={"OTEL_EXPORTER_OTLP_ENDPOINT": down})
    assert result.code == 0 and result.stdout == "You said: hi\n"
    warnings = [line for line in result.stderr.splitlines() if "OpenTelemetry" in line]
    assert len(warnings) == 1 and "export failed" in warnings[0]
    assert result.stderr.count("HTTPConnectionPool") == 1 and "Traceback" not in result.stderr
