"""A tool result too large for the context enters it cut to its head and tail."""

from __future__ import annotations

from collections.abc import Callable

from mamba_agents.messages import Message

_HEAD_SHARE = 2 / 3  # of what is kept, the start (where most outputs say what they are)


def fit_tool_result(message: Message, limit: int, count: Callable[[str], int]) -> Message:
    """`message` as the context should hold it: a tool result of more than `limit` tokens
    (by `count`) keeps its first and last parts with a note of what was cut between them,
    and the whole text in `full_content`. Any other message comes back unchanged."""
    text = message.content
    if message.role != "tool" or not isinstance(text, str) or len(text) <= limit:
        return message  # a token is at least one character: short texts need no count
    tokens = count(text)
    if tokens <= limit:
        return message
    keep = int(len(text) * limit / tokens * 0.9)  # room left for the note
    head = _whole_lines(text[: int(keep * _HEAD_SHARE)], last=False)
    tail = (
        _whole_lines(text[len(text) - (keep - len(head)) :], last=True) if keep > len(head) else ""
    )
    cut = len(text) - len(head) - len(tail)
    note = (
        f"\n[... {cut:,} characters cut to fit the context window: the result took "
        f"{tokens:,} tokens, the limit is {limit:,}; the session file keeps it whole ...]\n"
    )
    if len(head) + len(note) + len(tail) >= len(text):
        return message  # a limit so small that the note would outgrow what it replaces
    return message.with_updates(content=head + note + tail, full_content=text)


def _whole_lines(part: str, *, last: bool) -> str:
    """`part` without its broken line at the cut (the tail's first, the head's last),
    unless that would leave less than half of it."""
    cut = part.find("\n") + 1 if last else part.rfind("\n") + 1
    kept = part[cut:] if last else part[:cut]
    return kept if cut and len(kept) * 2 >= len(part) else part
