"""Start-up and one-shot run cost of `mamba`, beside a plain httpx script, in one run.

    python benchmarks/startup.py [--runs 15]

Starts the scripted model server from tests/, then measures the median whole-process wall
time and peak RSS of `mamba --version`, `mamba --help`, `mamba run` (saving and --no-save,
and exporting its spans over OTLP to a local endpoint), and a baseline Python script that
makes the same streaming request with httpx. Also checks that none of these paths imports
litellm, mcp, tiktoken, openai or (without export) OpenTelemetry.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from _measure import ROOT, heavy_imports, mamba_command, measure

BASELINE = """
import httpx, sys
body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True,
        "stream_options": {"include_usage": True}}
with httpx.stream("POST", sys.argv[1] + "/chat/completions", json=body) as response:
    for line in response.iter_lines():
        pass
"""


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that takes spans and keeps nothing."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "model_server.py")], stdout=subprocess.PIPE, text=True
    )
    base_url = server.stdout.readline().strip()
    home = tempfile.mkdtemp(prefix="mamba-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(MAMBA_HOME=home, HOME=home, XDG_CONFIG_HOME=home)
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{sink.server_address[1]}"
    mamba = mamba_command()
    run = [mamba, "run", "hi", "--model", "openai/gpt-4o", "--base-url", base_url]
    cases = {
        "baseline: python + httpx, same request": [sys.executable, "-c", BASELINE, base_url],
        "mamba --version": [mamba, "--version"],
        "mamba --help": [mamba, "--help"],
        "mamba run (saves a session)": run,
        "mamba run --no-save": [*run, "--no-save"],
        "mamba run, spans exported over OTLP": run,
    }
    exporting = dict(env, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    envs = {name: exporting if "OTLP" in name else env for name in cases}
    try:
        results = {name: measure(argv, args.runs, envs[name]) for name, argv in cases.items()}
        imports = {name: heavy_imports(argv, envs[name]) for name, argv in cases.items()}
    finally:
        server.terminate()
        server.wait()
        sink.shutdown()
    baseline = results["baseline: python + httpx, same request"]["wall"]
    print("| command | median wall | × baseline | peak RSS | heavy imports |")
    print("|---|---|---|---|---|")
    for name, figures in results.items():
        heavy = ", ".join(imports[name]) or "none"
        print(
            f"| `{name}` | {figures['wall'] * 1000:.0f} ms | {figures['wall'] / baseline:.2f}× "
            f"| {figures['rss']:.0f} MB | {heavy} |"
        )
    print(
        f"\n{args.runs} runs each, medians; Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores."
    )


if __name__ == "__main__":
    main()
