"""The raw request log: each model request and its response, one JSON line per exchange.

For debugging a provider: the body sent, the HTTP status, and the body received (a streamed
answer's chunks assembled into one `chat.completion` object), or the error. API keys and
secret-looking values are masked; the file is created readable by its owner only.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mamba_agents.errors import ConfigError
from mamba_agents.observability._logging import mask_values, redact

__all__ = ["NO_EXCHANGE", "LoggedExchange", "RequestLog", "merge_chunks"]


class LoggedExchange:
    """One request being answered; `close()` writes its line."""

    def __init__(self, log: RequestLog | None, entry: dict[str, Any]):
        self._log = log
        self._entry = entry
        self._chunks: list[dict[str, Any]] = []
        self._started = time.monotonic()

    def status(self, code: int) -> None:
        if self._log is not None:
            self._entry["status"] = code

    def chunk(self, data: dict[str, Any]) -> None:
        """One piece of a streamed answer."""
        if self._log is not None:
            self._chunks.append(data)

    def body(self, data: Any) -> None:
        """The whole answer (or an error body), as JSON data or text."""
        if self._log is not None:
            self._entry["response"] = data

    def fail(self, error: str) -> None:
        if self._log is not None:
            self._entry["error"] = error

    def close(self) -> None:
        if self._log is None:
            return
        log, self._log = self._log, None
        if self._chunks:
            self._entry["response"] = merge_chunks(self._chunks)
            self._entry["chunks"] = len(self._chunks)
        if "response" not in self._entry and "error" not in self._entry:
            self._entry["error"] = "ended before an answer arrived"
        self._entry["duration_ms"] = int((time.monotonic() - self._started) * 1000)
        log.write(self._entry)


NO_EXCHANGE = LoggedExchange(None, {})
"""What a backend logs to when there is no request log: every call does nothing."""


class RequestLog:
    """Appends exchanges to `path` as JSON lines; `secrets` (the configured keys) and
    anything that looks like a key are masked."""

    def __init__(self, path: str | os.PathLike[str], secrets: Iterable[str] = ()):
        self.path = Path(path).expanduser()
        self._secrets = tuple(s for s in secrets if s)
        self._lock = threading.Lock()
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
        except OSError as exc:
            raise ConfigError(
                f"{self.path}: cannot write the request log: {exc.strerror or exc}"
            ) from None

    def start(self, *, transport: str, model: str, url: str | None, body: Any) -> LoggedExchange:
        """An exchange about to be sent with this request body."""
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "transport": transport,
            "model": model,
            "url": url,
            "request": body,
        }
        return LoggedExchange(self, entry)

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(self._masked(entry), ensure_ascii=False, default=str)
        data = (line + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                while data:
                    data = data[os.write(fd, data) :]
            finally:
                os.close(fd)

    def _masked(self, value: Any) -> Any:
        """`value` with every text in it masked, its structure (and so the JSON) intact."""
        if isinstance(value, str):
            return redact(mask_values(value, self._secrets))
        if isinstance(value, dict):
            return {key: self._masked(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._masked(item) for item in value]
        return value


def merge_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Streamed `chat.completion.chunk` objects as the one `chat.completion` they make:
    text joined, tool-call pieces joined by index, the last finish reason and usage."""
    merged: dict[str, Any] = {"object": "chat.completion", "choices": []}
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for key in ("id", "model", "created", "system_fingerprint", "usage"):
            if chunk.get(key) is not None:
                merged[key] = chunk[key]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            into = choices.setdefault(
                index, {"index": index, "message": {"role": "assistant"}, "finish_reason": None}
            )
            if choice.get("finish_reason") is not None:
                into["finish_reason"] = choice["finish_reason"]
            _merge_delta(into["message"], choice.get("delta") or {})
    merged["choices"] = list(choices.values())
    return merged


def _merge_delta(message: dict[str, Any], delta: dict[str, Any]) -> None:
    for key, value in delta.items():
        if key == "tool_calls" and isinstance(value, list):
            calls = message.setdefault("tool_calls", [])
            for piece in value:
                if isinstance(piece, dict):
                    _merge_call(calls, piece)
        elif isinstance(value, str) and key != "role":
            message[key] = message.get(key, "") + value
        elif value is not None:
            message[key] = value


def _merge_call(calls: list[dict[str, Any]], piece: dict[str, Any]) -> None:
    index = piece.get("index", len(calls))
    call = next((c for c in calls if c.get("index") == index), None)
    if call is None:
        call = {"index": index, "function": {"name": "", "arguments": ""}}
        calls.append(call)
    for key in ("id", "type"):
        if piece.get(key):
            call[key] = piece[key]
    function = piece.get("function") or {}
    for key in ("name", "arguments"):
        if isinstance(function.get(key), str):
            call["function"][key] += function[key]
