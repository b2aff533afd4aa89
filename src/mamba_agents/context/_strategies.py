"""The five compaction strategies. Each plans which older units to drop or fold into a
summary; none ever touches a system prompt or the recent turns, or splits a unit."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from mamba_agents.context._units import Unit
from mamba_agents.errors import ConfigError
from mamba_agents.messages import Message

# (messages as wire dicts, instruction) -> the model's answer text, with its cost in USD.
AskModel = Callable[[list[dict[str, object]], str], Awaitable[tuple[str, float]]]

SUMMARY_PROMPT = """Summarise the conversation above so that the work can go on without it.
Keep, as short bullet points under these headings:
- Goals: what the user wants done.
- Decisions: what was decided, and why.
- Files and names: every file path, function, command and identifier that matters.
- Done: what was completed, with results.
- Open tasks: what remains, in order.
- Preferences: how the user wants things done.
Write facts, not a story. Do not invent anything."""

SCORING_PROMPT = """Rate how much each numbered turn above still matters for the work going on,
from 0 (not at all) to 9 (essential). Answer with JSON only: {"scores": {"1": 5, "2": 0, ...}}"""


MAX_SUMMARY_PARTS = 8
"""The most requests one summary may take; older history beyond them is folded unread."""


@dataclass
class Plan:
    """What a compaction would do: units to drop, units to fold into a summary (its text
    once written), and what the model calls cost."""

    drop: set[int] = field(default_factory=set)
    fold: list[int] = field(default_factory=list)
    summary: str | None = None
    summary_tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class Planning:
    """What a strategy plans from: the history, its units (with token counts), the units
    it must keep, the target, and (for the strategies that need one) a model."""

    messages: Sequence[Message]
    units: Sequence[Unit]
    keep: set[int]
    target: int
    ask: AskModel | None = None
    focus: str | None = None
    summary_prompt: str = SUMMARY_PROMPT
    estimate: Callable[[str], int] = len
    request_budget: int | None = None
    """The most tokens of history one summary or scoring request may carry (about half
    the window, leaving room for the instruction and the answer); None: no limit."""

    def total(self, plan: Plan) -> int:
        removed = {*plan.drop, *plan.fold}
        kept = sum(u.tokens for i, u in enumerate(self.units) if i not in removed)
        return kept + (plan.summary_tokens if plan.fold else 0)

    def candidates(self) -> list[int]:
        """The units a strategy may remove, oldest first."""
        return [i for i in range(len(self.units)) if i not in self.keep]

    def wire(self, indexes: Sequence[int]) -> list[dict[str, object]]:
        """The units' messages as a request carries them; a unit larger than the request
        budget on its own is cut (its texts keep their start)."""
        wire = []
        for i in indexes:
            unit = self.units[i]
            share = 1.0
            if self.request_budget and unit.tokens > self.request_budget:
                share = self.request_budget / unit.tokens
            for message in self.messages[unit.start : unit.end]:
                item = message.to_wire()
                text = item.get("content")
                if share < 1 and isinstance(text, str):
                    item["content"] = text[: int(len(text) * share)] + "\n[... cut ...]"
                wire.append(item)
        return wire

    def batches(self, indexes: Sequence[int]) -> list[list[int]]:
        """`indexes` in consecutive groups each within the request budget."""
        groups: list[list[int]] = [[]]
        size = 0
        for index in indexes:
            tokens = self.units[index].tokens
            if groups[-1] and self.request_budget and size + tokens > self.request_budget:
                groups.append([])
                size = 0
            groups[-1].append(index)
            size += tokens
        return groups if groups[0] else []


class SlidingWindowStrategy:
    """Drop the oldest turns, whole, until the context fits the target."""

    name = "sliding_window"

    async def plan(self, planning: Planning, *, preview: bool = False) -> Plan:
        plan = Plan()
        total = planning.total(plan)
        turns: dict[int, list[int]] = {}
        for index in planning.candidates():
            turns.setdefault(planning.units[index].turn, []).append(index)
        for indexes in turns.values():
            if total <= planning.target:
                break
            plan.drop.update(indexes)
            total -= sum(planning.units[i].tokens for i in indexes)
        return plan


class SelectivePruningStrategy:
    """Drop finished tool exchanges first, the bulkiest first; then the oldest answers."""

    name = "selective_pruning"

    async def plan(self, planning: Planning, *, preview: bool = False) -> Plan:
        plan = Plan()
        total = planning.total(plan)
        units = planning.units
        tools = [i for i in planning.candidates() if units[i].kind == "tools"]
        for index in sorted(tools, key=lambda i: -units[i].tokens):
            if total <= planning.target:
                return plan
            plan.drop.add(index)
            total -= units[index].tokens
        return plan


class SummarizeOlderStrategy:
    """Fold every older unit into one summary the model writes to carry the work on (in
    parts, each continuing the summary so far, when they do not fit one request)."""

    name = "summarize_older"

    async def plan(self, planning: Planning, *, preview: bool = False) -> Plan:
        fold = planning.candidates()
        plan = Plan(fold=fold)
        if not fold:
            return plan
        folded = sum(planning.units[i].tokens for i in fold)
        if preview:
            plan.summary_tokens = min(folded // 5, 1500)  # a typical summary's size
            return plan
        if planning.ask is None:
            raise ConfigError("summarize_older needs a model to write the summary")
        instruction = planning.summary_prompt
        if planning.focus:
            instruction += f"\nFocus on: {planning.focus}"
        # A history too long for one request is summarised in parts, each carrying on from
        # the summary so far.
        summary = ""
        # At most MAX_SUMMARY_PARTS requests: beyond that the oldest parts are folded
        # without being read (they stay in the session file).
        for batch in planning.batches(fold)[-MAX_SUMMARY_PARTS:]:
            wire = planning.wire(batch)
            if summary:
                wire.insert(0, {"role": "user", "content": _summary_so_far(summary)})
            text, cost = await planning.ask(wire, instruction)
            summary, plan.cost_usd = text.strip(), plan.cost_usd + cost
        plan.summary = summary
        plan.summary_tokens = planning.estimate(plan.summary)
        return plan


def _summary_so_far(summary: str) -> str:
    return f"[Summary of what came before]\n{summary}"


class ImportanceScoringStrategy:
    """Ask the model to score the older turns in one request (more when they do not fit
    one); drop the lowest first."""

    name = "importance_scoring"

    async def plan(self, planning: Planning, *, preview: bool = False) -> Plan:
        candidates = planning.candidates()
        plan = Plan()
        if not candidates or planning.total(plan) <= planning.target:
            return plan
        scores: dict[int, float] = {}
        if not preview:
            if planning.ask is None:
                raise ConfigError("importance_scoring needs a model to score the turns")
            for batch in planning.batches(candidates):  # one request, unless too long
                numbered = [
                    {"role": "user", "content": f"Turn {n}:\n{_text(planning, i)}"}
                    for n, i in enumerate(batch, 1)
                ]
                text, cost = await planning.ask(numbered, SCORING_PROMPT)
                given = _scores(text)
                scores.update({i: given.get(n, 5.0) for n, i in enumerate(batch, 1)})
                plan.cost_usd += cost
        total = planning.total(plan)
        # Lowest score first; among equals (and in a preview), the oldest first.
        for index in sorted(candidates, key=lambda i: (scores.get(i, 0.0), i)):
            if total <= planning.target:
                break
            plan.drop.add(index)
            total -= planning.units[index].tokens
        return plan


class HybridStrategy:
    """Prune tool exchanges first (no model call); summarise the rest only if that is not
    enough."""

    name = "hybrid"

    async def plan(self, planning: Planning, *, preview: bool = False) -> Plan:
        pruned = await SelectivePruningStrategy().plan(planning, preview=preview)
        if planning.total(pruned) <= planning.target:
            return pruned
        rest = Planning(
            planning.messages,
            planning.units,
            planning.keep | pruned.drop,
            planning.target,
            planning.ask,
            planning.focus,
            planning.summary_prompt,
            planning.estimate,
            planning.request_budget,
        )
        summary = await SummarizeOlderStrategy().plan(rest, preview=preview)
        summary.drop |= pruned.drop
        return summary


STRATEGIES = {
    cls.name: cls
    for cls in (
        SlidingWindowStrategy,
        SummarizeOlderStrategy,
        SelectivePruningStrategy,
        ImportanceScoringStrategy,
        HybridStrategy,
    )
}


def _text(planning: Planning, index: int) -> str:
    unit = planning.units[index]
    parts = []
    for message in planning.messages[unit.start : unit.end]:
        calls = ", ".join(call.name for call in message.tool_calls)
        parts.append(
            f"{message.role}: {message.text[:2000]}" + (f" [calls {calls}]" if calls else "")
        )
    return "\n".join(parts)


def _scores(text: str) -> dict[int, float]:
    """The scores in the model's answer ({"scores": {"1": 5, ...}}); missing ones are 5."""
    match = re.search(r"\{.*\}", text, re.S)
    try:
        data = json.loads(match.group(0)) if match else {}
    except ValueError:
        return {}
    raw = data.get("scores", data) if isinstance(data, dict) else {}
    scores = {}
    for key, value in raw.items() if isinstance(raw, dict) else ():
        try:
            scores[int(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return scores
