"""`ContextManager`: a conversation's messages, how many tokens they take, and compaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mamba_agents.config import CompactionConfig
from mamba_agents.context._strategies import STRATEGIES, AskModel, Plan, Planning
from mamba_agents.context._units import protected, split_units
from mamba_agents.messages import Message

DEFAULT_WINDOW = 128_000


@dataclass(frozen=True)
class ContextWindowState:
    """Tokens and messages in the context now, and the thresholds that apply."""

    token_count: int
    message_count: int
    trigger_tokens: int
    target_tokens: int


@dataclass(frozen=True)
class CompactionResult:
    """What a compaction did: the messages it folded or dropped (`removed_ids`), tokens
    before and after, the summary it wrote (if any) and what its model call cost. When the
    target could not be reached, `reached_target` is False and `note` says why."""

    strategy: str
    removed_count: int
    tokens_before: int
    tokens_after: int
    target_tokens: int
    removed_ids: tuple[str, ...] = ()
    summary: str | None = None
    cost_usd: float = 0.0
    preview: bool = False
    note: str | None = None
    messages: tuple[Message, ...] = field(default=(), repr=False)

    @property
    def reached_target(self) -> bool:
        return self.tokens_after <= self.target_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "removed_count": self.removed_count,
            "tokens_before": self.tokens_before,
            "tokens_after": self.tokens_after,
            "target_tokens": self.target_tokens,
            "reached_target": self.reached_target,
            "removed_ids": list(self.removed_ids),
            "summary": self.summary,
            "cost_usd": self.cost_usd,
            "note": self.note,
        }


class ContextManager:
    """Keeps a conversation's messages with each one's token count (counted once), says
    when it needs compacting, and compacts it with the configured strategy::

        manager = ContextManager(config=CompactionConfig(strategy="sliding_window"))
        manager.add_messages([{"role": "user", "content": "Hello"}])
        if manager.should_compact():
            result = await manager.compact()

    `window` is the model's context window (thresholds default to ratios of it);
    `reserved` the tokens every request spends outside the messages (system prompt, tool
    schemas), counted in every figure; `ask` is
    how the summarising and scoring strategies reach a model: `(messages, instruction) ->
    (text, cost_usd)`. Without it those strategies raise ConfigError rather than invent a
    summary.
    """

    def __init__(
        self,
        config: CompactionConfig | None = None,
        *,
        window: int = DEFAULT_WINDOW,
        ask: AskModel | None = None,
        counter: Any = None,
        reserved: int = 0,
    ) -> None:
        self.config = config or CompactionConfig()
        self.window = window
        self.reserved = reserved
        self.ask = ask
        self._counter = counter
        self._messages: list[Message] = []
        self._tokens: list[int] = []

    # -- messages ----------------------------------------------------------------------------
    def _count(self, message: Message) -> int:
        if self._counter is None:
            from mamba_agents.tokens import TokenCounter

            self._counter = TokenCounter()
        priming = self._counter.count_messages([])
        return max(self._counter.count_messages([message.to_wire()]) - priming, 1)

    def add_messages(self, messages: Iterable[Message | dict[str, Any]]) -> None:
        """Add messages (`Message` objects or wire dicts); each is counted once, here."""
        for item in messages:
            message = item if isinstance(item, Message) else Message.from_record(dict(item))
            self._messages.append(message)
            self._tokens.append(self._count(message))

    def get_messages(self) -> list[Message]:
        return list(self._messages)

    def clear(self) -> None:
        self._messages, self._tokens = [], []

    @property
    def token_count(self) -> int:
        return self.reserved + sum(self._tokens)

    def get_context_state(self) -> ContextWindowState:
        return ContextWindowState(
            self.token_count,
            len(self._messages),
            self.config.trigger_for(self.window),
            self.config.target_for(self.window),
        )

    def should_compact(self, extra_tokens: int = 0) -> bool:
        """Whether the context (plus `extra_tokens` about to be added) passes the trigger."""
        return self.token_count + extra_tokens > self.config.trigger_for(self.window)

    # -- compaction --------------------------------------------------------------------------
    def _planning(self, focus: str | None, in_turn: bool) -> Planning:
        units = split_units(self._messages, self._tokens)
        return Planning(
            self._messages,
            units,
            protected(units, self.config.preserve_recent_turns, open_turn=in_turn),
            self.config.target_for(self.window) - self.reserved,
            self.ask,
            focus,
            estimate=lambda text: self._count(Message(role="user", content=text)),
            request_budget=self.window // 2,
        )

    async def preview(
        self, strategy: str | None = None, *, in_turn: bool = False
    ) -> CompactionResult:
        """What `compact()` would remove, with estimated tokens after, without any model
        call and without changing anything."""
        planning = self._planning(None, in_turn)
        name = strategy or self.config.strategy
        plan = await STRATEGIES[name]().plan(planning, preview=True)
        return self._result(name, planning, plan, preview=True)

    async def compact(
        self, *, focus: str | None = None, strategy: str | None = None, in_turn: bool = False
    ) -> CompactionResult:
        """Compact the context: older units are dropped or folded into a summary message
        (marked `status="summary"`). `focus` steers the summary. `in_turn` says the last
        turn is still running: its older tool steps may go too (see `protected`)."""
        planning = self._planning(focus, in_turn)
        name = strategy or self.config.strategy
        plan = await STRATEGIES[name]().plan(planning)
        result = self._result(name, planning, plan)
        if result.removed_count and result.tokens_after >= result.tokens_before:
            # A summary no shorter than what it would replace: keep the context as it was.
            return CompactionResult(
                name,
                0,
                result.tokens_before,
                result.tokens_before,
                result.target_tokens,
                summary=result.summary,
                cost_usd=result.cost_usd,
                note=f"the summary ({plan.summary_tokens:,} tokens) was not shorter than what "
                "it would replace; nothing changed",
                messages=tuple(self._messages),
            )
        self._messages = list(result.messages)
        self._tokens = [self._count(m) for m in self._messages]
        return result

    def _result(
        self, name: str, planning: Planning, plan: Plan, *, preview: bool = False
    ) -> CompactionResult:
        removed = {*plan.drop, *plan.fold}
        kept: list[Message] = []
        first_fold = min(plan.fold) if plan.fold else None
        for index, unit in enumerate(planning.units):
            if index == first_fold and plan.summary is not None:
                kept.append(
                    Message(role="user", content=_summary_text(plan.summary), status="summary")
                )
            if index not in removed:
                kept.extend(planning.messages[unit.start : unit.end])
        removed_ids = tuple(
            m.id
            for index in sorted(removed)
            for m in planning.messages[planning.units[index].start : planning.units[index].end]
        )
        before = self.reserved + sum(u.tokens for u in planning.units)
        after = self.reserved + planning.total(plan)
        target = self.config.target_for(self.window)
        note = None
        if after > target:
            turns = self.config.preserve_recent_turns
            note = (
                f"could not reach {target:,} tokens with {name}: what it keeps (the system "
                f"prompt and tool schemas, the last {turns} turns, any summary) takes {after:,}"
            )
        return CompactionResult(
            name,
            len(removed_ids),
            before,
            after,
            target,
            removed_ids,
            plan.summary,
            plan.cost_usd,
            preview,
            note,
            tuple(kept),
        )


def _summary_text(summary: str) -> str:
    return f"[Summary of the earlier conversation]\n{summary}"
