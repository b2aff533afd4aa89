"""Every ```python block of README.md is a complete script: run as written, it exits 0.

Each block is written to a file and run with this venv's Python in a fresh process, in an
isolated home, against the scripted OpenAI-compatible server: the snippets name real models
(`openai/gpt-4o`, ...), and `MAMBA_MODEL_BACKEND__BASE_URL` (the documented
`model_backend.base_url` setting) sends their requests to that server instead, so the
snippet text holds nothing of the test. The test is parametrised by the line of the block's
opening fence, so a failure names the block.

What the snippets need besides a model comes from the environment, the same for every block:
- the working directory holds `data.txt` and a small `.py` file (the file tools snippet reads
  and searches them);
- PATH starts with this venv's `bin`, where `mamba` and `mcp-server-time` are installed (the
  stream-json snippet runs `mamba run`, the MCP snippet starts `mcp-server-time`);
- no `WEB_TOKEN`, so the MCP snippet's example SSE server fails at once on its unset
  `${WEB_TOKEN}`, as it documents a failing server, without touching the network;
- no `OTEL_*` endpoint, so the OpenTelemetry snippet initialises and exports nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import mamba_env
from model_server import ScriptedModelServer

README = Path(__file__).resolve().parents[1] / "README.md"
TIMEOUT = 120  # seconds per snippet; most take one or two


def python_blocks(text: str) -> dict[int, str]:
    """The ```python blocks of a Markdown text by the line number of their opening fence."""
    blocks: dict[int, str] = {}
    start: int | None = None
    lines: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if start is None:
            if re.fullmatch(r"```python\s*", line):
                start, lines = number, []
        elif re.fullmatch(r"```\s*", line):
            blocks[start] = "\n".join(lines) + "\n"
            start = None
        else:
            lines.append(line)
    assert start is None, f"README.md:{start}: a ```python block is never closed"
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_blocks_are_found() -> None:
    assert len(BLOCKS) >= 10
    assert python_blocks("a\n```python\nx = 1\n```\n```bash\nls\n```\n") == {2: "x = 1\n"}


@pytest.mark.parametrize("line", sorted(BLOCKS), ids=lambda line: f"README.md:{line}")
def test_snippet_runs(line: int, home: Path, server: ScriptedModelServer, tmp_path: Path) -> None:
    script = tmp_path / f"readme_{line}.py"
    script.write_text(BLOCKS[line], encoding="utf-8")
    work = home / "work"
    (work / "data.txt").write_text("Some data.\n", encoding="utf-8")
    (work / "tools.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    venv_bin = str(Path(sys.executable).parent)
    env = mamba_env(
        home,
        PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
        OPENAI_API_KEY="sk-test",
        MAMBA_MODEL_BACKEND__BASE_URL=server.base_url,
    )
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, (
        f"README.md:{line}: the snippet exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
