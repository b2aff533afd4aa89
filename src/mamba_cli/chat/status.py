"""The figures shown after each answer and in the bottom toolbar."""

from __future__ import annotations

from typing import Any

from mamba_agents.tokens import combine_sources


def human(count: float) -> str:
    """1234 -> 1.2k, 1234567 -> 1.2M."""
    for size, unit in ((1_000_000, "M"), (1000, "k")):
        if count >= size:
            return f"{count / size:.1f}".removesuffix(".0") + unit
    return str(int(count))


def money(value: float, source: str) -> str:
    text = f"${value:.4f}" if value < 1 else f"${value:.2f}"
    return text + (" (partly unpriced)" if source == "unpriced" else "")


def session_cost(agent: Any) -> tuple[float, str]:
    """Cost and cost source of every request in the session file."""
    _, cost, sources = agent.session.total_usage()
    return cost, combine_sources(sources) if sources else "estimated"


def context_text(agent: Any) -> str:
    state = agent.get_context_state()
    if state.context_window:
        percent = 100 * state.token_count / state.context_window
        return f"context {human(state.token_count)}/{human(state.context_window)} ({percent:.0f}%)"
    return f"context {human(state.token_count)}"


def status_line(agent: Any, result: Any) -> str:
    """tokens in and out, context used of the window, cost of the turn and of the session."""
    usage = result.usage
    sent = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    cost, source = session_cost(agent)
    parts = [
        f"{human(sent)} in",
        f"{human(usage.output_tokens)} out",
        context_text(agent),
        f"turn {money(result.cost_usd, result.cost_source)}",
        f"session {money(cost, source)}",
    ]
    return " · ".join(parts)


def toolbar(agent: Any) -> str:
    """Model, session, context % and session cost, for the bottom toolbar."""
    state = agent.get_context_state()
    percent = (
        f"{100 * state.token_count / state.context_window:.0f}%" if state.context_window else "?"
    )
    cost, source = session_cost(agent)
    return (
        f" {agent.model} │ session {agent.session.id[:8]} │ context {percent} │ "
        f"{money(cost, source)} │ /help"
    )
