"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

Each request takes the next reply from the script. With the script empty it echoes the last
user message (`You said: ...`), except that a last user message whose first line is
`CALL <tool> <json>` (e.g. `CALL read_file {"path": "x"}`) is answered with that tool call
(the JSON text is sent as given, malformed or not; `{}` when left out), and once the tool
results are back, with their text (`Tool said: ...`). So a prompt can make the model call any
tool.

A reply is a dict:
  {"text": "...", "chunks": 3}                 answer text, streamed in this many pieces
  {"tool_calls": [{"name": "f", "arguments": {...}}]}   tool calls (arguments split across chunks)
  {"argument_chunks": 1000}                    stream each call's arguments in this many pieces
                                               (default 2)
  {"usage": {...}} / {"usage": None}           override or omit the usage object; any value is
                                               sent as given, malformed ones included
                                               ({"usage": {"prompt_tokens": "12"}}, a list, ...)
  {"status": 429, "retry_after": "0"}          an HTTP error (any status; body is an error object)
  {"status": 401, "echo_auth": True}           an error whose message echoes the request's
                                               Authorization header (`... Bearer sk-...`)
  {"body": "<html>...", "content_type": "text/html", "status": 502}
                                               this body as it is (status 200 when not given)
  {"redirect": "http://elsewhere/v1/chat/completions", "status": 301}
                                               a redirect (status 302 when not given)
  {"delay": 1.5}                               wait before answering
  {"chunk_delay": 0.3}                         wait between streamed chunks
  {"trickle": 2.0}                             stream the whole event stream one byte at a time,
                                               waiting this many seconds before each byte
  {"endless": 0.05}                            a stream that never ends: one "." text chunk every
                                               this many seconds until the client hangs up
  {"drop": True}                               stream one chunk, then close without finishing
  {"drop": True, "text": ""}                   close the stream before any chunk
  {"invalid_json": True}                       send a malformed stream chunk
  {"finish_reason": "length"}                  end with this finish reason (default: "stop",
                                               or "tool_calls" for tool calls)
  {"response_model": "gpt-4o-2024-08-06"}      the model the answer says answered (default: the
                                               model asked for)
Every request body and its headers are kept in `requests`; `most_in_flight` says how many
were answered at the same time at most.

With `context_window=N` the server has a window like a real one: a request whose prompt takes
more than N tokens (counted as `usage_for` does) is answered with HTTP 400, in OpenAI's shape
(`code: "context_length_exceeded"`) or with `context_error="llamacpp"` in llama.cpp's
(`type: "exceed_context_size_error"`, `n_prompt_tokens`, `n_ctx`), before any script item is
taken. Unscripted requests for a compaction summary or for turn scores get a short scripted
summary, or scores (9 for turns that say IMPORTANT, else 1).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def usage_for(body: dict[str, Any], text: str) -> dict[str, Any]:
    """About four characters a token, of the messages' contents and the tool schemas."""
    messages = sum(len(json.dumps(m.get("content") or "")) for m in body.get("messages", []))
    prompt = (messages + len(json.dumps(body["tools"])) if body.get("tools") else messages) // 4
    completion = max(1, len(text) // 4)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _text_of(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content)


SUMMARY_REQUEST = "Summarise the conversation above"
SCORING_REQUEST = "Rate how much each numbered turn"


def too_long_error(body: dict[str, Any], window: int, style: str) -> dict[str, Any] | None:
    """The error body a provider sends when the prompt does not fit `window`, else None."""
    tokens = usage_for(body, "")["prompt_tokens"]
    if tokens <= window:
        return None
    if style == "llamacpp":
        return {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": tokens,
                "n_ctx": window,
            }
        }
    return {
        "error": {
            "message": f"This model's maximum context length is {window} tokens. However, your "
            f"messages resulted in {tokens} tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }


def compaction_reply(messages: list[dict[str, Any]], instruction: str) -> dict[str, Any] | None:
    """A scripted summary or scoring answer, when `instruction` asks for one."""
    earlier = [_text_of(m.get("content")) for m in messages[:-1]]
    if instruction.startswith(SUMMARY_REQUEST):
        first = next((t for t in earlier if t and t != "null"), "")
        return {"text": f"- Goals: {first[:80]}\n- Done: {len(earlier)} earlier messages"}
    if instruction.startswith(SCORING_REQUEST):
        scores = {
            str(n): 9 if "IMPORTANT" in text else 1
            for n, text in enumerate((t for t in earlier if t.startswith("Turn ")), 1)
        }
        return {"text": json.dumps({"scores": scores})}
    return None


def unscripted_reply(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The reply when the script is empty: echo, or the `CALL <tool> <json>` protocol."""
    last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    text = _text_of(last.get("content"))
    scripted = compaction_reply(messages, text) if messages and messages[-1] is last else None
    if scripted is not None:
        return scripted
    first_line = text.partition("\n")[0]
    if not first_line.startswith("CALL "):
        return {"text": f"You said: {text}"}
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.insert(0, _text_of(message.get("content")))
    if results:
        return {"text": "Tool said: " + "\n".join(results)}
    _, name, arguments = (first_line + " ").split(" ", 2)
    return {"tool_calls": [{"name": name, "arguments": arguments.strip() or "{}"}]}


def pieces(text: str, count: int) -> list[str]:
    """`text` cut into at most `count` consecutive pieces (at least one, maybe empty)."""
    size = max(1, -(-len(text) // max(1, count)))
    return [text[start : start + size] for start in range(0, len(text), size)] or [""]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, interrupts) are expected here."""


class ScriptedModelServer:
    """Start with `with ScriptedModelServer() as server:`; `server.base_url` ends in /v1."""

    def __init__(
        self,
        script: list[dict[str, Any]] | None = None,
        *,
        context_window: int | None = None,
        context_error: str = "openai",
    ):
        self.script: list[dict[str, Any]] = list(script or [])
        self.context_window = context_window
        self.context_error = context_error
        self.refused = 0  # requests refused as too long for the context window
        self.in_flight = 0
        self.most_in_flight = 0  # the most requests answered at the same time
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def add(self, *replies: dict[str, Any]) -> None:
        with self._lock:
            self.script.extend(replies)

    def __enter__(self) -> ScriptedModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._closed.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next_reply(self, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if self.context_window is not None:
                error = too_long_error(body, self.context_window, self.context_error)
                if error is not None:
                    self.refused += 1
                    return {
                        "body": json.dumps(error),
                        "status": 400,
                        "content_type": "application/json",
                    }
            if self.script:
                return self.script.pop(0)
        return unscripted_reply(body.get("messages", []))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                with server._lock:
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                reply = server._next_reply(body, {k.lower(): v for k, v in self.headers.items()})
                if reply.get("delay"):
                    time.sleep(reply["delay"])
                if "redirect" in reply:
                    self._send(
                        reply.get("status", 302), b"", "text/plain", {"location": reply["redirect"]}
                    )
                elif "body" in reply:
                    payload = reply["body"].encode()
                    self._send(
                        reply.get("status", 200), payload, reply.get("content_type", "text/plain")
                    )
                elif reply.get("status"):
                    self._error(reply)
                elif body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._plain(body, reply)

            def _send(
                self,
                status: int,
                payload: bytes,
                content_type: str,
                extra: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def _error(self, reply: dict[str, Any]) -> None:
                extra = {"retry-after": str(reply["retry_after"])} if "retry_after" in reply else {}
                message = reply.get("message", f"injected HTTP {reply['status']}")
                if reply.get("echo_auth"):
                    message = f"Incorrect API key provided: {self.headers.get('authorization')}"
                payload = json.dumps({"error": {"message": message, "type": "test"}}).encode()
                self._send(reply["status"], payload, "application/json", extra)

            def _tool_calls(self, reply: dict[str, Any]) -> list[dict[str, Any]]:
                calls = []
                for index, call in enumerate(reply.get("tool_calls") or []):
                    arguments = call.get("arguments", {})
                    calls.append(
                        {
                            "id": call.get("id", f"call_{index}"),
                            "type": "function",
                            "function": {
                                "name": call["name"],
                                "arguments": arguments
                                if isinstance(arguments, str)
                                else json.dumps(arguments),
                            },
                        }
                    )
                return calls

            def _usage(self, body: dict[str, Any], reply: dict[str, Any]) -> Any:
                if "usage" in reply:
                    return reply["usage"]
                return usage_for(body, reply.get("text", ""))

            def _plain(self, body: dict[str, Any], reply: dict[str, Any]) -> None:
                calls = self._tool_calls(reply)
                message: dict[str, Any] = {"role": "assistant", "content": reply.get("text")}
                if calls:
                    message["tool_calls"] = calls
                payload = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "model": reply.get("response_model", body.get("model")),
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": reply.get(
                                "finish_reason", "tool_calls" if calls else "stop"
                            ),
                        }
                    ],
                }
                usage = self._usage(body, reply)
                if usage is not None:
                    payload["usage"] = usage
                self._send(200, json.dumps(payload).encode(), "application/json")

            def _stream(self, body: dict[str, Any], reply: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                self.trickle = reply.get("trickle")
                self.model = reply.get("response_model", body.get("model"))
                if reply.get("endless"):
                    self._endless(reply["endless"])
                    return
                text = reply.get("text", "")
                if reply.get("drop") and not text:
                    self.close_connection = True
                    return
                for number, piece in enumerate(pieces(text, int(reply.get("chunks", 3)))):
                    if not piece:
                        break
                    if number and reply.get("chunk_delay"):
                        time.sleep(reply["chunk_delay"])
                    self._event({"choices": [{"index": 0, "delta": {"content": piece}}]})
                    if reply.get("drop"):
                        self.close_connection = True
                        return
                if reply.get("invalid_json"):
                    self._write(b"data: {not json\n\n")
                for index, call in enumerate(self._tool_calls(reply)):
                    parts = pieces(call["function"]["arguments"], reply.get("argument_chunks", 2))
                    first = {
                        "index": index,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": parts[0]},
                    }
                    rest = [{"index": index, "function": {"arguments": p}} for p in parts[1:]]
                    for delta in (first, *rest):
                        self._event({"choices": [{"index": 0, "delta": {"tool_calls": [delta]}}]})
                finish = reply.get(
                    "finish_reason", "tool_calls" if reply.get("tool_calls") else "stop"
                )
                self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                usage = self._usage(body, reply)
                if usage is not None and (body.get("stream_options") or {}).get("include_usage"):
                    self._event({"choices": [], "usage": usage})
                self._write(b"data: [DONE]\n\n")

            def _endless(self, every: float) -> None:
                while not server._closed.is_set():
                    self._event({"choices": [{"index": 0, "delta": {"content": "."}}]})
                    time.sleep(every)

            def _event(self, chunk: dict[str, Any]) -> None:
                chunk.setdefault("id", "chatcmpl-test")
                chunk.setdefault("object", "chat.completion.chunk")
                chunk.setdefault("model", self.model)
                self._write(f"data: {json.dumps(chunk)}\n\n".encode())

            def _write(self, data: bytes) -> None:
                """Send `data` at once, or byte by byte when the reply trickles."""
                if not self.trickle:
                    self.wfile.write(data)
                    self.wfile.flush()
                    return
                for byte in data:
                    if server._closed.wait(self.trickle):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()

        return Handler


if __name__ == "__main__":
    # Serve until killed; print the base URL on the first line (used by benchmarks).
    # `--window N` gives it a context window; `--context-error llamacpp` picks that error shape.
    import argparse

    parser = argparse.ArgumentParser(description="A scripted chat-completions server.")
    parser.add_argument("--window", type=int, default=None, help="context window in tokens")
    parser.add_argument("--context-error", choices=("openai", "llamacpp"), default="openai")
    options = parser.parse_args()
    with ScriptedModelServer(
        context_window=options.window, context_error=options.context_error
    ) as srv:
        print(srv.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            sys.exit(0)
