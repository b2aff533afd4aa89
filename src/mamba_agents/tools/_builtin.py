"""The twelve built-in tools, bound to the runtime's sandbox, with their risk classes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from mamba_agents.tools import bash, filesystem, search
from mamba_agents.tools._function_tool import Tool, tool_from_function
from mamba_agents.tools._security import FilesystemSecurity

BUILTIN: dict[str, tuple[Callable[..., Any], str]] = {
    "read_file": (filesystem.read_file, "read"),
    "list_directory": (filesystem.list_directory, "read"),
    "file_info": (filesystem.file_info, "read"),
    "glob_search": (search.glob_search, "read"),
    "grep_search": (search.grep_search, "read"),
    "write_file": (filesystem.write_file, "write"),
    "edit_file": (filesystem.edit_file, "write"),
    "append_file": (filesystem.append_file, "write"),
    "move_file": (filesystem.move_file, "write"),
    "copy_file": (filesystem.copy_file, "write"),
    "delete_file": (filesystem.delete_file, "write"),
    "run_bash": (bash.run_bash, "execute"),
}
# The tools whose output is cut at the runtime's `output_limit`.
_CAPPED = ("run_bash", "edit_file")


def builtin_tools(
    security: FilesystemSecurity | None = None,
    *,
    bash_timeout: float | None = None,
    output_limit: int | None = None,
    names: list[str] | None = None,
) -> list[Tool]:
    """The built-in tools bound to `security` (default: the current directory)."""
    security = security if security is not None else FilesystemSecurity()
    tools = []
    for name, (function, risk) in BUILTIN.items():
        if names is not None and name not in names:
            continue
        schema = tool_from_function(function)
        bound: dict[str, Any] = {"security": security}
        if name in _CAPPED and output_limit is not None:
            bound["output_limit"] = output_limit
        if name == "run_bash" and bash_timeout is not None:
            # The model may pass a shorter timeout, never a longer one.
            bound["timeout"] = bound["max_timeout"] = bash_timeout
            schema.parameters["properties"]["timeout"]["default"] = bash_timeout
            schema.parameters["properties"]["timeout"]["maximum"] = bash_timeout
        tools.append(
            Tool(
                name,
                schema.description,
                schema.parameters,
                functools.partial(function, **bound),
                risk,
            )
        )
    return tools


def as_tool(item: Tool | Callable[..., Any]) -> Tool:
    """A `Tool` as it is, or one built from a function. A built-in tool's function (such as
    `read_file`) becomes that built-in, with its risk class, bound to the default sandbox
    (the current directory)."""
    if isinstance(item, Tool):
        return item
    for name, (function, _risk) in BUILTIN.items():
        if item is function:
            return builtin_tools(names=[name])[0]
    return tool_from_function(item)
