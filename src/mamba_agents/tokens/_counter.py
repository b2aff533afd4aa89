"""Token counting that works offline: tiktoken with LiteLLM's bundled encodings."""

from __future__ import annotations

import json
import os
from typing import Any

from mamba_agents.backends import litellm_package_dir

# Per-message framing tokens in OpenAI chat models.
_MESSAGE_OVERHEAD = 4
_REPLY_PRIMING = 3


def _point_tiktoken_at_bundled_files() -> None:
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        return
    package = litellm_package_dir()
    if package is not None:
        folder = package / "litellm_core_utils" / "tokenizers"
        if folder.is_dir():
            os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)


class TokenCounter:
    """Counts tokens with a tiktoken encoding, loaded lazily and once.

    When the encoding cannot be loaded (offline and not bundled) it falls back to an estimate
    of one token per four characters; `exact` tells which is in use. Counts are estimates
    for non-OpenAI models in any case; prefer the usage a provider reports.
    """

    def __init__(self, encoding: str = "cl100k_base"):
        self.encoding_name = encoding
        self._encoding: Any = None
        self._loaded = False

    @property
    def exact(self) -> bool:
        """True when a real tiktoken encoding is in use."""
        return self._load() is not None

    def _load(self) -> Any:
        if not self._loaded:
            self._loaded = True
            _point_tiktoken_at_bundled_files()
            try:
                import tiktoken

                self._encoding = tiktoken.get_encoding(self.encoding_name)
            except Exception:
                self._encoding = None
        return self._encoding

    def count(self, text: str) -> int:
        """Tokens in `text`."""
        if not text:
            return 0
        encoding = self._load()
        if encoding is None:
            return max(1, (len(text) + 3) // 4)
        return len(encoding.encode(text, disallowed_special=()))

    def count_messages(self, messages: list[dict[str, Any]]) -> int:
        """Tokens of wire-format messages, with the chat format's framing."""
        total = _REPLY_PRIMING
        for message in messages:
            total += _MESSAGE_OVERHEAD
            content = message.get("content")
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            total += self.count(content or "")
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                total += self.count(function.get("name", "")) + self.count(
                    function.get("arguments", "")
                )
            if message.get("name"):
                total += self.count(message["name"])
        return total

    def count_tools(self, tools: list[dict[str, Any]]) -> int:
        """Tokens the tool schemas add to a request (approximate)."""
        return self.count(json.dumps(tools)) if tools else 0
