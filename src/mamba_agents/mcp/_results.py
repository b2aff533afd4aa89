"""What an MCP server answered, as the text the model reads."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def _size(data: str | None) -> str:
    """The decoded size of base64 data, for people."""
    if not data:
        return "0 bytes"
    try:
        count = len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        count = len(data)
    return f"{count:,} bytes"


def _block_text(block: Any) -> str:
    """One content block: text as it is; images, audio and binary resources described."""
    kind = getattr(block, "type", "")
    if kind == "text":
        return block.text
    if kind in ("image", "audio"):
        return f"[{kind}: {block.mime_type}, {_size(block.data)}]"
    if kind == "resource_link":
        label = f" ({block.name})" if getattr(block, "name", None) else ""
        return f"[resource link: {block.uri}{label}]"
    if kind == "resource":
        resource = block.resource
        text = getattr(resource, "text", None)
        if text is not None:
            return text
        mime = getattr(resource, "mime_type", None) or "binary"
        return f"[resource: {resource.uri}, {mime}, {_size(getattr(resource, 'blob', None))}]"
    return f"[{kind or 'unknown'} content]"


def content_text(blocks: Any) -> str:
    """Content blocks as text, one block per line."""
    return "\n".join(_block_text(block) for block in blocks or ())


def result_text(result: Any) -> str:
    """The content blocks as text; the structured content as JSON when there is no text
    (servers are asked to send both, the text being the structured content serialized)."""
    text = content_text(result.content)
    structured = getattr(result, "structured_content", None)
    if structured is not None and not any(
        getattr(block, "type", "") == "text" for block in result.content or ()
    ):
        text = "\n".join(p for p in (text, json.dumps(structured, ensure_ascii=False)) if p)
    return text
