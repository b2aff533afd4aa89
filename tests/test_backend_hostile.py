"""Both transports against a hostile or broken provider: slow and endless streams, error
pages, echoed keys, malformed usage, redirects and oversized tool arguments."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time

import pytest
from conftest import start_mamba, wait_for_request, warm_litellm

from mamba_agents import Agent, AgentSettings
from mamba_agents.backends import (
    Completion,
    LiteLLMBackend,
    ModelRequest,
    OpenAICompatibleBackend,
)
from mamba_agents.backends._retry import complete_with_retries
from mamba_agents.config import RetryConfig
from mamba_agents.errors import AuthenticationError, ModelBackendError, ModelTimeoutError

ONE_RETRY = RetryConfig(max_retries=1, base_wait=0.01)
REQUEST = ModelRequest([{"role": "user", "content": "hi"}])
KEY = "sk-test-0123456789abcdef"
TRANSPORTS = ["native", "litellm"]
ERROR_PAGE = """<!DOCTYPE html>
<html>
<head>
<title>502 Bad Gateway</title>
</head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.25.3</center>
</body>
</html>
<!-- a padding comment to disable the browser's own error page -->
<!-- a padding comment to disable the browser's own error page -->
<!-- a padding comment to disable the browser's own error page -->
<!-- a padding comment to disable the browser's own error page -->
<!-- a padding comment to disable the browser's own error page -->
<!-- a padding comment to disable the browser's own error page -->
"""
LOGIN_PAGE = "<html><head><title>Sign in &amp; continue</title></head><body>form</body></html>"


def backend_for(server, transport: str, **options):
    """A backend of `transport` that talks to the scripted server as `openai/test-model`."""
    options.setdefault("api_key", KEY)
    if transport == "native":
        key = options.pop("api_key")
        return OpenAICompatibleBackend(
            "test-model", server.base_url, key, display_model="openai/test-model", **options
        )
    warm_litellm()
    return LiteLLMBackend("openai/test-model", api_base=server.base_url, **options)


def collect(
    backend, retry: RetryConfig = ONE_RETRY, request: ModelRequest = REQUEST, on_retry=None
):
    """Every item the backend yields, through the retry policy; the backend is closed after."""

    async def go():
        try:
            attempts = complete_with_retries(backend, request, retry, on_retry)
            return [item async for item in attempts]
        finally:
            await backend.aclose()

    return asyncio.run(go())


def completion_of(backend, **kwargs) -> Completion:
    items = collect(backend, **kwargs)
    assert isinstance(items[-1], Completion)
    return items[-1]


# Hole 11: request_timeout bounds the gap between bytes; a total bounds an endless stream.


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_trickling_stream_times_out_between_bytes_and_is_retried(server, transport):
    server.add(*[{"text": "slowly", "trickle": 2.0}] * 2)
    backend = backend_for(server, transport, timeout=0.2)
    retries = []
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError, match=r"openai/test-model: .*timed out"):
        collect(backend, on_retry=lambda *details: retries.append(details))
    # Retried once, as the policy says. (On a busy machine the retry itself may time out
    # before the server has read it, so the server sees one or two requests.)
    assert len(retries) == 1 and 1 <= len(server.requests) <= 2
    assert time.monotonic() - started < 6


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_total_timeout_ends_a_stream_that_never_ends(server, transport):
    server.add({"endless": 0.02})
    backend = backend_for(server, transport, timeout=5, total_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError, match=r"openai/test-model: .*total limit of 0\.5 s"):
        collect(backend)
    assert time.monotonic() - started < 5
    assert len(server.requests) == 1  # text was shown: reported, not repeated


def test_total_timeout_before_any_text_is_retried(server):
    server.add(*[{"text": "late", "delay": 2}] * 2)
    with pytest.raises(ModelTimeoutError, match=r"total limit of 0\.15 s"):
        collect(backend_for(server, "native", timeout=5, total_timeout=0.15))
    assert len(server.requests) == 2


def test_run_timeout_ends_a_stream_that_never_ends(mamba, server):
    server.add({"endless": 0.02})
    started = time.monotonic()
    result = mamba("run", "go on forever", "--timeout", "0.5")
    assert result.code == 124 and time.monotonic() - started < 5
    assert result.stderr.startswith("mamba: ") and "Traceback" not in result.stderr


def test_sigterm_ends_a_stream_that_never_ends(home, server):
    server.add({"endless": 0.02})
    proc = start_mamba(home, "run", "go on", "-m", "gpt-4o", "--base-url", server.base_url)
    wait_for_request(server)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and "Traceback" not in err


# Hole 16 (a): provider error text never shows the key.


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_401_that_echoes_the_key_is_redacted(server, transport):
    server.add({"status": 401, "echo_auth": True})
    with pytest.raises(AuthenticationError) as caught:
        collect(backend_for(server, transport))
    text = str(caught.value)
    assert KEY not in text and "sk-test" not in text
    assert text.startswith("authentication failed for openai/test-model (HTTP 401)")
    assert "Bearer ****;" in text


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_key_without_a_known_shape_is_redacted_too(server, transport):
    key = "Zq81plainkeyVALUE"
    server.add({"status": 500, "message": f"upstream rejected {key} for this model"})
    with pytest.raises(ModelBackendError) as caught:
        collect(backend_for(server, transport, api_key=key), retry=RetryConfig(max_retries=0))
    assert key not in str(caught.value) and "upstream rejected **** for" in str(caught.value)


def test_the_command_prints_an_echoed_key_redacted(mamba, server):
    server.add({"status": 401, "echo_auth": True})
    result = mamba("run", "x", env={"OPENAI_API_KEY": KEY})
    assert result.code == 1 and KEY not in result.stderr + result.stdout
    assert result.stderr.count("\n") == 1 and "Bearer ****" in result.stderr


# Hole 16 (b): an HTML error page is one line: the status and the page's title.


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_502_html_page_is_one_short_line(server, transport):
    server.add(*[{"status": 502, "body": ERROR_PAGE, "content_type": "text/html"}] * 2)
    with pytest.raises(ModelBackendError) as caught:
        collect(backend_for(server, transport))
    assert str(caught.value) == (
        "HTTP 502 Bad Gateway from openai/test-model: HTML page '502 Bad Gateway'"
    )
    assert len(server.requests) == 2  # a 502 is worth one more try


def test_the_command_prints_one_line_for_an_html_error_page(mamba, server):
    server.add(*[{"status": 502, "body": ERROR_PAGE, "content_type": "text/html"}] * 5)
    result = mamba("run", "x")
    assert result.code == 1
    page = "HTTP 502 Bad Gateway from openai/gpt-4o: HTML page '502 Bad Gateway'"
    *retries, final = result.stderr.splitlines()
    # Each retry is announced before its wait; the error says how many attempts were made.
    assert retries == [f"retrying in 0.0 s ({page})"] * 3
    assert final == f"mamba: {page} (gave up after 4 attempts)"


def test_a_plain_text_error_body_is_kept_on_one_line(server):
    server.add({"status": 503, "body": "down\nfor\r\nmaintenance\x1b]0;owned\x07"})
    with pytest.raises(ModelBackendError) as caught:
        collect(backend_for(server, "native"), retry=RetryConfig(max_retries=0))
    assert str(caught.value) == (
        "HTTP 503 Service Unavailable from openai/test-model: down for maintenance]0;owned"
    )


# Hole 16 (c): a malformed usage object keeps the answer; usage counts as not reported.

BAD_USAGE = [
    {"prompt_tokens": "12", "completion_tokens": 3},
    {"prompt_tokens": -4, "completion_tokens": 3},
    {"prompt_tokens": None, "completion_tokens": 3},
    {"prompt_tokens": 2, "completion_tokens": 3, "prompt_tokens_details": [1]},
    {"prompt_tokens": 2.5, "completion_tokens": 3},
    [1, 2],
    "lots",
]


@pytest.mark.parametrize("usage", BAD_USAGE, ids=json.dumps)
def test_malformed_usage_keeps_the_streamed_answer(server, usage, caplog):
    server.add({"text": "the answer", "usage": usage})
    with caplog.at_level(logging.DEBUG, logger="mamba_agents.backends"):
        completion = completion_of(backend_for(server, "native"))
    assert completion.message.content == "the answer" and completion.usage is None
    assert "ignoring the provider's malformed usage" in caplog.text


@pytest.mark.parametrize("usage", [u for u in BAD_USAGE if "2.5" not in json.dumps(u)])
def test_malformed_usage_keeps_the_answer_through_litellm(server, usage):
    """LiteLLM repairs or recounts such usage itself (a fractional count it refuses)."""
    server.add({"text": "the answer", "usage": usage})
    completion = completion_of(backend_for(server, "litellm"))
    assert completion.message.content == "the answer"


@pytest.mark.parametrize("usage", BAD_USAGE, ids=json.dumps)
def test_malformed_usage_keeps_the_plain_answer(server, usage):
    server.add({"text": "the answer", "usage": usage})
    completion = completion_of(backend_for(server, "native", stream=False))
    assert completion.message.content == "the answer" and completion.usage is None


def test_malformed_usage_is_counted_locally_and_marked_estimated(server):
    server.add({"text": "the answer", "usage": {"prompt_tokens": "many", "completion_tokens": 1}})
    settings = AgentSettings(
        environ={},
        load=False,
        overrides={"model_backend": {"model": "openai/gpt-4o", "base_url": server.base_url}},
    )
    result = Agent(settings=settings).run_sync("count me")
    assert result.output == "the answer" and result.status == "success"
    assert result.usage.input_tokens > 0 and result.cost_source == "estimated"


def test_a_reported_cost_that_is_not_a_cost_is_ignored(server):
    server.add({"text": "x", "usage": {"prompt_tokens": 1, "completion_tokens": 1, "cost": -3}})
    completion = completion_of(backend_for(server, "native"))
    assert completion.reported_cost is None and completion.usage.output_tokens == 1


# Hole 16 (d): a redirect or a page that is not an event stream says what came back.


@pytest.mark.parametrize("stream", [True, False])
def test_a_redirect_names_where_it_points(server, stream):
    target = "https://api.example.invalid/v1/chat/completions"
    server.add({"redirect": target, "status": 301})
    with pytest.raises(ModelBackendError) as caught:
        collect(backend_for(server, "native", stream=stream))
    assert f"HTTP 301 from {server.base_url}: redirected to {target}" in str(caught.value)
    assert "set --base-url to the final address" in str(caught.value)
    assert len(server.requests) == 1  # not retried


def test_an_html_page_instead_of_a_stream_says_so(server):
    server.add({"body": LOGIN_PAGE, "content_type": "text/html; charset=utf-8"})
    with pytest.raises(ModelBackendError) as caught:
        collect(backend_for(server, "native"))
    assert str(caught.value) == (
        "openai/test-model: expected an event stream, got text/html; charset=utf-8 "
        "(HTTP 200 OK): HTML page 'Sign in & continue'"
    )


def test_json_instead_of_a_stream_says_so(server):
    server.add(
        {"body": json.dumps({"error": "streaming is off"}), "content_type": "application/json"}
    )
    with pytest.raises(ModelBackendError, match=r"got application/json .*: streaming is off"):
        collect(backend_for(server, "native"))


def test_an_html_page_instead_of_json_says_so(server):
    server.add({"body": LOGIN_PAGE, "content_type": "text/html"})
    with pytest.raises(ModelBackendError) as caught:
        collect(backend_for(server, "native", stream=False))
    assert "expected a JSON response, got text/html (HTTP 200 OK): HTML page 'Sign in" in str(
        caught.value
    )


def test_litellm_reports_an_html_page_instead_of_a_stream(server):
    server.add({"body": LOGIN_PAGE, "content_type": "text/html"})
    with pytest.raises(ModelBackendError, match="expected an event stream, got text/html"):
        collect(backend_for(server, "litellm"))


# Tool arguments are capped: the call gets an error result the model reads.


def huge_call(size: int, pieces: int) -> dict:
    arguments = json.dumps({"path": "big.txt", "content": "x" * size})
    return {
        "tool_calls": [{"id": "big", "name": "save", "arguments": arguments}],
        "argument_chunks": pieces,
    }


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_streamed_arguments_over_the_limit_are_dropped(server, transport):
    server.add(huge_call(5_000, 50))
    completion = completion_of(backend_for(server, transport, max_tool_arguments=1_000))
    [call] = completion.message.tool_calls
    assert (call.id, call.name, call.arguments) == ("big", "save", "{}")
    with pytest.raises(ValueError, match=r"over the limit of 1,000 characters \(5,03\d received"):
        call.parsed_arguments()


def test_the_default_limit_is_a_million_characters(server):
    server.add(huge_call(999_000, 100), huge_call(1_000_000, 100))
    [small] = completion_of(backend_for(server, "native")).message.tool_calls
    assert len(small.parsed_arguments()["content"]) == 999_000
    [large] = completion_of(backend_for(server, "native")).message.tool_calls
    with pytest.raises(ValueError, match="over the limit of 1,000,000 characters"):
        large.parsed_arguments()


def test_plain_response_arguments_over_the_limit_are_dropped(server):
    server.add(huge_call(5_000, 1))
    completion = completion_of(backend_for(server, "native", stream=False, max_tool_arguments=100))
    [call] = completion.message.tool_calls
    assert call.arguments == "{}"
    with pytest.raises(ValueError, match="over the limit of 100 characters"):
        call.parsed_arguments()


def save(path: str, content: str) -> str:
    """Save a file.

    Args:
        path: Where.
        content: What.
    """
    return f"saved {len(content)} characters to {path}"


def test_an_oversized_call_gets_an_error_result_and_the_session_stays_whole(server):
    server.add(huge_call(1_200_000, 1_000), {"text": "understood"})
    settings = AgentSettings(
        environ={},
        load=False,
        overrides={"model_backend": {"model": "openai/gpt-4o", "base_url": server.base_url}},
    )
    result = Agent(settings=settings, tools=[save]).run_sync("write it")
    assert result.output == "understood"
    sent = server.requests[1]["messages"]
    assert sent[-2]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert sent[-1]["role"] == "tool" and sent[-1]["tool_call_id"] == "big"
    assert "over the limit of 1,000,000 characters" in sent[-1]["content"]


# The scripted server's `CALL <tool> <json>` protocol.


def test_a_prompt_can_make_the_model_call_a_tool(server):
    settings = AgentSettings(
        environ={},
        load=False,
        overrides={"model_backend": {"model": "openai/gpt-4o", "base_url": server.base_url}},
    )
    result = Agent(settings=settings, tools=[save]).run_sync(
        'CALL save {"path": "a.txt", "content": "abc"}'
    )
    assert result.output == "Tool said: saved 3 characters to a.txt"
    call = server.requests[0]
    assert call["messages"][-1]["content"].startswith("CALL save")
