"""grep_search against GNU grep on a generated tree of 10,000 files, in one run.

    python benchmarks/grep.py [--files 10000] [--runs 5]

Both are measured as whole processes (median wall time): `grep -rnE PATTERN DIR` and a
Python process calling `grep_search(PATTERN, DIR)` with no result cap; the search alone is
also timed inside this process. Two patterns: a rare one (1 file in 100) and a common one
(every file).

"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _measure import measure

from mamba_agents.tools import FilesystemSecurity, grep_search

LINES = [
    "import os",
    "from pathlib import Path",
    "",
    "def handler_{n}(request, context):",
    '    """Handle one request and return a response."""',
    "    value = request.get('value', {n})",
    "    if value > 10:",
    "        return context.reply(value * 2)",
    "    return None",
    "",
]

SEARCH = """
import sys
from mamba_agents.tools import FilesystemSecurity, grep_search
result = grep_search(sys.argv[1], path=".", max_results=10**9,
                     security=FilesystemSecurity(base_directory=sys.argv[2]))
print(len(result.matches))
"""


def make_tree(root: Path, files: int) -> None:
    rng = random.Random(7)
    per_folder = 100
    for index in range(files):
        folder = root / f"pkg{index // per_folder:03}"
        folder.mkdir(exist_ok=True)
        body = [line.format(n=index * 10 + k) for k in range(4) for line in LINES]
        if rng.random() < 0.01:
            body.insert(5, f"NEEDLE_{index} = True")
        (folder / f"module_{index:05}.py").write_text("\n".join(body) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mamba-grep-"))
    make_tree(root, args.files)
    print("| pattern | GNU grep -rnE | grep_search (process) | ratio | grep_search (call) |")
    print("|---|---|---|---|---|")
    security = FilesystemSecurity(base_directory=root)
    for label, pattern in (
        ("rare (1% of files)", r"NEEDLE_[0-9]+"),
        ("common (every file)", r"def handler_[0-9]+"),
    ):
        grep = measure(["grep", "-rnE", pattern, str(root)], args.runs)
        ours = measure([sys.executable, "-c", SEARCH, pattern, str(root)], args.runs)
        calls = []
        for _ in range(args.runs):
            started = time.perf_counter()
            grep_search(pattern, max_results=10**9, security=security)
            calls.append(time.perf_counter() - started)
        print(
            f"| {label} | {grep['wall'] * 1000:.0f} ms | {ours['wall'] * 1000:.0f} ms "
            f"| {ours['wall'] / grep['wall']:.1f}× | {statistics.median(calls) * 1000:.0f} ms |"
        )
    print(f"\n{args.files} files, {args.runs} runs each, medians, whole processes.")


if __name__ == "__main__":
    main()
