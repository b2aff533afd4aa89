"""Tools made from plain Python functions: the schema comes from type hints and docstring."""

from __future__ import annotations

import contextlib
import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
CANCEL_GRACE_SECONDS = 5.0

RUNTIME_PARAMETERS = frozenset({"security", "output_limit", "cancel", "max_timeout"})
"""Parameters the runtime owns (the sandbox, limits, the cancel event). A function parameter
with one of these names never appears in a tool's schema and the model may never set it."""

_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _parameter_names(function: Callable[..., Any]) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # no signature to read (some builtins)
        return frozenset()


@dataclass(frozen=True)
class Tool:
    """A tool the model may call: name, description, JSON schema of its parameters, function."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    risk: str = "execute"

    def schema(self) -> dict[str, Any]:
        """The OpenAI `tools` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    async def invoke(self, arguments: dict[str, Any]) -> str:
        """Call the function (sync functions in a worker thread) and return text.

        Only the parameters in the schema are accepted, and never a runtime-owned one
        (such as the sandbox), whatever the schema says. A sync function with a `cancel`
        parameter gets a `threading.Event` that is set when the call is cancelled, so it can
        stop its work (a thread cannot be killed).
        """
        import asyncio

        takes = _parameter_names(self.function)
        known = set(self.parameters.get("properties", {})) - (takes & RUNTIME_PARAMETERS)
        unknown = sorted(set(arguments) - known)
        if unknown:
            raise TypeError(f"unexpected argument(s): {', '.join(unknown)}")

        if inspect.iscoroutinefunction(self.function):
            return result_text(await self.function(**arguments))
        if "cancel" not in takes:
            return result_text(await asyncio.to_thread(self.function, **arguments))
        import threading

        cancel = threading.Event()
        work = asyncio.ensure_future(asyncio.to_thread(self.function, **arguments, cancel=cancel))
        try:
            value = await asyncio.shield(work)
        except asyncio.CancelledError:
            # Let the function see the event and clean up (kill what it started) before the
            # cancellation goes on, so nothing it started outlives the call.
            cancel.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(work, CANCEL_GRACE_SECONDS)
            raise
        return result_text(value)


def result_text(value: Any) -> str:
    """A tool's return value as the text the model sees."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if hasattr(value, "to_text"):
        return value.to_text()
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _json_schema(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint in _JSON_TYPES:
        return {"type": _JSON_TYPES[hint]}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return _json_schema(options[0])
        return {"anyOf": [_json_schema(a) for a in options]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if hint in (list, tuple, set) or origin in (list, tuple, set):
        schema: dict[str, Any] = {"type": "array"}
        if args and args[0] is not Ellipsis:
            schema["items"] = _json_schema(args[0])
        return schema
    if hint is dict or origin is dict:
        return {"type": "object"}
    return {}


def _docstring_parts(doc: str) -> tuple[str, dict[str, str]]:
    """(summary, {argument: description}) from a Google-style docstring."""
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or line.strip().endswith(":"):
            break
        summary.append(line.strip())
    params: dict[str, str] = {}
    arg_indent: int | None = None
    current: str | None = None
    in_args = False
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            in_args, arg_indent = True, None
            continue
        if not in_args or not line.strip():
            continue
        if indent == 0:
            in_args = False
            continue
        match = _ARG_LINE.match(line)
        if match and (arg_indent is None or indent == arg_indent):
            arg_indent = indent
            current = match.group(1).lstrip("*")
            params[current] = match.group(2).strip()
        elif current:
            params[current] += " " + line.strip()
    return " ".join(summary), params


def tool_from_function(
    function: Callable[..., Any],
    *,
    name: str | None = None,
    hidden: frozenset[str] = frozenset(),
    risk: str = "execute",
) -> Tool:
    """Build a `Tool` from a function's signature, type hints and docstring.

    Runtime-owned parameters (`RUNTIME_PARAMETERS`: the sandbox, limits, the cancel event)
    and those named in `hidden` are left out of the schema the model sees. `risk` (`read`,
    `write` or `execute`) is what permission defaults go by; a function's risk is unknown,
    so it defaults to `execute`.
    """
    signature = inspect.signature(function)
    hints = typing.get_type_hints(function)
    summary, descriptions = _docstring_parts(function.__doc__ or "")
    hidden = hidden | RUNTIME_PARAMETERS
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in signature.parameters.values():
        if param.name in hidden or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        schema = _json_schema(hints.get(param.name, str))
        if param.name in descriptions:
            schema["description"] = descriptions[param.name]
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
        elif param.default is not None:
            schema["default"] = param.default
        properties[param.name] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    return Tool(name or function.__name__, summary or function.__name__, parameters, function, risk)
