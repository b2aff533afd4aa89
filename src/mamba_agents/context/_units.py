"""A history cut into the pieces compaction may fold or drop whole: a user message, an
assistant answer, or an assistant's tool calls together with their results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mamba_agents.messages import Message


@dataclass(frozen=True)
class Unit:
    """Messages `start` to `end` (exclusive) of a history, always kept or removed together.

    `kind` is `system`, `user`, `answer`, `tools` (an assistant message with tool calls and
    its results) or `summary`; `turn` counts user messages so far (0 before the first)."""

    start: int
    end: int
    kind: str
    turn: int
    tokens: int


def is_summary(message: Message) -> bool:
    """Whether a message is a compaction's summary (it is kept like a user turn's start)."""
    return message.status == "summary"


def split_units(messages: Sequence[Message], tokens: Sequence[int]) -> list[Unit]:
    """The history's units, in order; `tokens` holds each message's count (computed once)."""
    units: list[Unit] = []
    turn = 0
    index = 0
    while index < len(messages):
        message = messages[index]
        end = index + 1
        if message.role == "system":
            kind = "system"
        elif is_summary(message):
            kind = "summary"
        elif message.role == "user":
            turn += 1
            kind = "user"
        elif message.role == "assistant" and message.tool_calls:
            while end < len(messages) and messages[end].role == "tool":
                end += 1
            kind = "tools"
        else:
            kind = "answer"  # an assistant answer (or a stray tool result: dropped with it)
        units.append(Unit(index, end, kind, turn, sum(tokens[index:end])))
        index = end
    return units


def protected(units: Sequence[Unit], recent_turns: int, *, open_turn: bool = False) -> set[int]:
    """Indexes of the units no strategy may touch: system prompts and the last
    `recent_turns` user turns, whole.

    With `open_turn` the last turn is still running (a long run of tool calls): of that
    turn only its user message and its last `recent_turns` units (at least one) are kept,
    so a single long run can be compacted too."""
    last_turn = max((u.turn for u in units), default=0)
    first_kept = last_turn - recent_turns + 1
    keep = {
        i
        for i, unit in enumerate(units)
        if unit.kind == "system" or (recent_turns > 0 and unit.turn >= max(first_kept, 1))
    }
    if open_turn and last_turn:
        running = [i for i, unit in enumerate(units) if unit.turn == last_turn]
        steps = [i for i in running if units[i].kind in ("tools", "answer")]
        keep -= set(steps[: -max(recent_turns, 1)])
        keep |= {i for i in running if units[i].kind not in ("tools", "answer")}
    return keep
