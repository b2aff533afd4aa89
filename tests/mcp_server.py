"""A real MCP server for the tests, in its own process.

    python tests/mcp_server.py [--transport stdio|http|sse] [--port N] [--kind KIND] [--name N]

KIND is how it behaves: `normal`, `exit` (dies at start-up after a line on stderr), `hang`
(never answers), `garbage` (writes lines that are not JSON-RPC and never answers).
Tools: add, echo, fail (an error result), picture (an image), crash (the process dies
mid-call), sleep, peek (read-only), env (reads a variable), big (a long text).
Prompt: greet.
"""

import argparse
import os
import sys
import time

from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations


def build(name: str):
    server = MCPServer(name)

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return f"echo: {text}"

    @server.tool()
    def fail(message: str) -> str:
        """Always fails with the message."""
        raise ToolError(message)

    @server.tool()
    def picture() -> Image:
        """A small PNG image."""
        return Image(data=b"\x89PNG\r\n\x1a\n" + b"\0" * 92, format="png")

    @server.tool()
    def crash() -> str:
        """The server process dies."""
        print("crashing now: segfault simulated", file=sys.stderr, flush=True)
        os._exit(9)

    @server.tool()
    def sleep(seconds: float) -> str:
        """Sleep, then answer."""
        time.sleep(seconds)
        return f"slept {seconds}"

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def peek() -> str:
        """Look without touching."""
        return "nothing changed"

    @server.tool()
    def env(variable: str) -> str:
        """The value of an environment variable in the server's process."""
        return os.environ.get(variable, "<unset>")

    @server.tool(structured_output=True)
    def big(size: int) -> str:
        """A long text."""
        return "x" * size

    @server.prompt()
    def greet(person: str) -> str:
        """Greet someone."""
        return f"Say hello to {person} in French."

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", default="stdio", choices=["stdio", "http", "sse"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--kind", default="normal")
    parser.add_argument("--name", default="test-server")
    options = parser.parse_args()
    print(f"starting {options.name} ({options.kind})", file=sys.stderr, flush=True)
    if options.kind == "exit":
        print("fatal: cannot open the database", file=sys.stderr, flush=True)
        sys.exit(3)
    if options.kind == "hang":
        time.sleep(3600)
    if options.kind == "garbage":
        while True:
            print("this is not JSON-RPC", flush=True)
            time.sleep(0.2)
    server = build(options.name)
    if options.transport == "stdio":
        server.run("stdio")
    elif options.transport == "http":
        server.run("streamable-http", host="127.0.0.1", port=options.port)
    else:
        server.run("sse", host="127.0.0.1", port=options.port)


if __name__ == "__main__":
    main()
