"""CPU time to render a streamed 20,000-token Markdown answer, against writing it plainly.

    python benchmarks/render.py [--tokens 20000] [--runs 5]

Both stream the same answer token by token (about four characters each) to the same sink,
flushing after every token as a terminal writer does: once plainly, once through the chat's
Markdown renderer (headings, emphasis, lists, code blocks highlighted). The target is a ratio
under 3.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

from mamba_cli.chat.markdown_stream import MarkdownStream

PROSE = (
    "Streaming answers mix **bold words**, `inline code`, *emphasis* and "
    "[links](https://example.org) with plain prose that goes on for a while. "
)
CODE = (
    '```python\ndef handler(request, context):\n    """Answer one request."""\n'
    '    value = request.get("value", 42)  # default\n    return context.reply(value * 2)\n'
    "```\n\n"
)


def answer(characters: int) -> str:
    rng = random.Random(5)
    parts: list[str] = []
    size = 0
    while size < characters:
        kind = rng.random()
        if kind < 0.15:
            part = f"## Section {len(parts)}\n\n"
        elif kind < 0.35:
            part = CODE
        elif kind < 0.5:
            part = "- first point with `code`\n- second point, **bold**\n1. numbered item\n\n"
        else:
            part = PROSE * rng.randint(2, 5) + "\n\n"
        parts.append(part)
        size += len(part)
    return "".join(parts)


def plain(tokens: list[str], sink) -> None:
    for token in tokens:
        sink.write(token)
        sink.flush()


def rendered(tokens: list[str], sink) -> None:
    stream = MarkdownStream(sink, width=100, color=True)
    for token in tokens:
        stream.feed(token)
    stream.finish()


def cpu(function, tokens: list[str], sink, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.process_time()
        function(tokens, sink)
        times.append(time.process_time() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    text = answer(args.tokens * 4)
    tokens = [text[i : i + 4] for i in range(0, len(text), 4)]
    with open(os.devnull, "w") as sink:
        base = cpu(plain, tokens, sink, args.runs)
        ours = cpu(rendered, tokens, sink, args.runs)
    print("| writer | CPU time | ratio |\n|---|---|---|")
    print(f"| plain write, {len(tokens):,} tokens | {base * 1000:.0f} ms | 1.00× |")
    print(f"| Markdown stream renderer | {ours * 1000:.0f} ms | {ours / base:.2f}× |")


if __name__ == "__main__":
    main()
