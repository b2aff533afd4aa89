"""Both transports against the scripted server: streaming, tool-call deltas, usage, faults."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from conftest import warm_litellm

from mamba_agents.backends import (
    Completion,
    ModelRequest,
    TextChunk,
    create_backend,
    create_ollama_backend,
    resolve_route,
)
from mamba_agents.backends._retry import complete_with_retries
from mamba_agents.config import AgentSettings, RetryConfig
from mamba_agents.errors import AuthenticationError, ModelBackendError, RateLimitError

FAST_RETRY = RetryConfig(retry_level=2, base_wait=0.01, max_wait=0.5)
REQUEST = ModelRequest([{"role": "user", "content": "hi"}])


def make_backend(server, transport: str, *, stream: bool = True, timeout: float = 10.0):
    if transport == "litellm":
        warm_litellm()
    settings = AgentSettings(
        environ={},
        load=False,
        overrides={
            "model_backend": {
                "model": "openai/test-model",
                "base_url": server.base_url,
                "transport": transport,
                "api_key": "sk-test-key",
                "stream": stream,
                "request_timeout": timeout,
            }
        },
    )
    route = resolve_route("openai/test-model", base_url=server.base_url, transport=transport)
    return create_backend(route, settings)


def collect(backend, request=REQUEST, retry=FAST_RETRY):
    async def go():
        items = [item async for item in complete_with_retries(backend, request, retry)]
        await backend.aclose()
        return items

    items = asyncio.run(go())
    return [i.text for i in items if isinstance(i, TextChunk)], items[-1]


TRANSPORTS = ["native", "litellm"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_streamed_text_and_usage(server, transport):
    server.add(
        {"text": "hello world", "chunks": 3, "usage": {"prompt_tokens": 12, "completion_tokens": 5}}
    )
    chunks, completion = collect(make_backend(server, transport))
    assert "".join(chunks) == "hello world" and len(chunks) >= 2
    assert isinstance(completion, Completion)
    assert completion.message.content == "hello world"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (12, 5)
    assert server.requests[0]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tool_calls_split_across_chunks(server, transport):
    server.add(
        {
            "tool_calls": [
                {"id": "c1", "name": "read_file", "arguments": {"path": "a.txt", "limit": 10}},
                {"id": "c2", "name": "list_directory", "arguments": {"path": "."}},
            ]
        }
    )
    _, completion = collect(make_backend(server, transport))
    calls = completion.message.tool_calls
    assert [(c.id, c.name) for c in calls] == [("c1", "read_file"), ("c2", "list_directory")]
    assert json.loads(calls[0].arguments) == {"path": "a.txt", "limit": 10}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_plain_non_streaming_reply(server, transport):
    server.add({"text": "plain", "usage": {"prompt_tokens": 3, "completion_tokens": 1}})
    chunks, completion = collect(make_backend(server, transport, stream=False))
    assert chunks == [] and completion.message.content == "plain"
    assert completion.usage.output_tokens == 1
    assert "stream" not in server.requests[0] or not server.requests[0]["stream"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_429_is_retried(server, transport):
    server.add({"status": 429, "retry_after": "0"}, {"text": "after the wait"})
    _, completion = collect(make_backend(server, transport))
    assert completion.message.content == "after the wait"
    assert len(server.requests) == 2


def test_retry_after_is_honoured(server):
    server.add({"status": 429, "retry_after": "0.1"}, {"text": "ok"})
    waits = []

    async def go():
        backend = make_backend(server, "native")
        retry = RetryConfig(base_wait=0.01, max_wait=5)
        out = [
            i
            async for i in complete_with_retries(
                backend, REQUEST, retry, lambda n, w, r: waits.append(w)
            )
        ]
        await backend.aclose()
        return out

    asyncio.run(go())
    assert waits == [0.1]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_500_is_retried_then_reported(server, transport):
    server.add(*[{"status": 500}] * 10)
    with pytest.raises(ModelBackendError, match="500"):
        collect(make_backend(server, transport), retry=RetryConfig(max_retries=2, base_wait=0.01))
    assert len(server.requests) == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_401_is_not_retried_and_names_the_variable(server, transport):
    server.add({"status": 401, "message": "bad key"})
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        collect(make_backend(server, transport))
    assert len(server.requests) == 1


def test_rate_limit_after_all_retries(server):
    server.add(*[{"status": 429, "retry_after": "0"}] * 5)
    with pytest.raises(RateLimitError):
        collect(make_backend(server, "native"), retry=RetryConfig(max_retries=1, base_wait=0.01))
    assert len(server.requests) == 2


def test_timeout_is_retried_then_reported(server):
    server.add(*[{"text": "slow", "delay": 1.0}] * 3)
    with pytest.raises(ModelBackendError, match="timed out"):
        collect(
            make_backend(server, "native", timeout=0.15),
            retry=RetryConfig(max_retries=1, base_wait=0.01),
        )
    assert len(server.requests) == 2


def test_stream_dropped_before_any_text_is_retried(server):
    server.add({"text": "", "drop": True}, {"text": "second try"})
    chunks, _completion = collect(make_backend(server, "native"))
    assert "".join(chunks) == "second try" and len(server.requests) == 2


def test_stream_dropped_after_text_is_reported_not_repeated(server):
    server.add({"text": "partial answer", "chunks": 2, "drop": True}, {"text": "again"})
    with pytest.raises(ModelBackendError, match="ended before the answer was complete"):
        collect(make_backend(server, "native"))
    assert len(server.requests) == 1


def test_invalid_json_in_stream_is_an_error(server):
    server.add(*[{"text": "", "invalid_json": True}] * 5)
    with pytest.raises(ModelBackendError, match="invalid JSON"):
        collect(make_backend(server, "native"), retry=RetryConfig(max_retries=1, base_wait=0.01))
    assert len(server.requests) == 2


def test_reported_cost_is_taken_from_usage(server):
    server.add({"text": "x", "usage": {"prompt_tokens": 1, "completion_tokens": 1, "cost": 0.0123}})
    _, completion = collect(make_backend(server, "native"))
    assert completion.reported_cost == 0.0123


def test_bearer_key_sent_only_when_configured(server):
    collect(make_backend(server, "native"))
    assert server.headers[0]["authorization"] == "Bearer sk-test-key"
    backend = create_ollama_backend("llama3.2", base_url=server.base_url)
    collect(backend)
    assert "authorization" not in server.headers[1]
    assert server.requests[1]["model"] == "llama3.2"


@pytest.mark.parametrize(
    ("model", "base_url", "transport", "wire", "url"),
    [
        ("gpt-4o", None, "native", "gpt-4o", "https://api.openai.com/v1"),
        ("openai/gpt-4o-mini", None, "native", "gpt-4o-mini", "https://api.openai.com/v1"),
        ("ollama/llama3.2", None, "native", "llama3.2", "http://localhost:11434/v1"),
        ("vllm/meta/llama", None, "native", "meta/llama", "http://localhost:8000/v1"),
        ("lmstudio/qwen", None, "native", "qwen", "http://localhost:1234/v1"),
        ("llamacpp/any", None, "native", "any", "http://localhost:8080/v1"),
        ("foo", "http://host/v1/", "native", "foo", "http://host/v1"),
        ("anthropic/claude-sonnet-4-5", None, "litellm", "claude-sonnet-4-5", None),
        ("gemini/gemini-2.0-flash", None, "litellm", "gemini-2.0-flash", None),
    ],
)
def test_routing_rules(model, base_url, transport, wire, url):
    route = resolve_route(model, base_url=base_url)
    assert (route.transport, route.name, route.base_url) == (transport, wire, url)


def test_native_path_does_not_import_litellm(server):
    code = (
        "import sys, asyncio\n"
        f"sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})\n"
        "from mamba_agents import Agent, AgentSettings\n"
        "s = AgentSettings(environ={}, load=False, overrides={'model_backend': "
        f"{{'model': 'openai/gpt-4o', 'base_url': {server.base_url!r}}}}})\n"
        "print(Agent(settings=s).run_sync('hi').output)\n"
        "print(sorted(m for m in ('litellm', 'tiktoken', 'mcp', 'openai', 'pydantic') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["You said: hi", "[]"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_requests_with_tool_schemas(server, transport):
    schema = {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look up.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
    server.add({"tool_calls": [{"id": "t", "name": "lookup", "arguments": {"q": "x"}}]})
    request = ModelRequest([{"role": "user", "content": "find x"}], tools=[schema])
    _, completion = collect(make_backend(server, transport), request=request)
    assert completion.message.tool_calls[0].name == "lookup"
    assert server.requests[0]["tools"][0]["function"]["name"] == "lookup"


@pytest.mark.parametrize("stream", [False, True])
def test_one_backend_serves_one_event_loop_after_another(server, stream):
    """`Agent.run_sync` runs each call in a new event loop; a connection the server kept
    open belongs to the loop before and must not be reused from the next."""
    from mamba_agents import Agent

    settings = AgentSettings(
        environ={},
        load=False,
        overrides={"model_backend": {"model": "openai/gpt-4o", "base_url": server.base_url}},
    )
    settings.model_backend.stream = stream
    agent = Agent(settings=settings)
    assert agent.run_sync("one").output == "You said: one"
    assert agent.run_sync("two").output == "You said: two"
    assert asyncio.run(agent.run("three")).output == "You said: three"
