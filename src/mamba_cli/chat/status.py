"""The figures shown after each answer and in the bottom toolbar."""

from __future__ import annotations

from typing import Any

from mamba_cli.output import human, money


def cost_text(value: float, source: str) -> str:
    """A cost, marked when some of it (or all of it) has no known price."""
    if source != "unpriced":
        return money(value)
    return money(value) + " (partly unpriced)" if value else "unpriced (no known prices)"


def session_cost(agent: Any) -> tuple[float, str]:
    """Cost and cost source of every request in the session file."""
    summary = agent.session_usage()
    return summary.cost_usd, summary.cost_source


def context_figure(state: Any) -> str:
    """`context 1.3k/128k (1%)` from a ContextState."""
    if state.context_window:
        percent = 100 * state.token_count / state.context_window
        return f"context {human(state.token_count)}/{human(state.context_window)} ({percent:.0f}%)"
    return f"context {human(state.token_count)}"


def fullness_style(state: Any) -> str | None:
    """Yellow once the context fills 80% of the window, red from 90%; None below."""
    from mamba_cli.chat.styles import RED, YELLOW

    ratio = state.usage_ratio
    if ratio is None or ratio < 0.8:
        return None
    return RED if ratio >= 0.9 else YELLOW


def status_line(agent: Any, result: Any) -> str:
    """tokens in and out, context used of the window, cost of the turn and of the session."""
    usage = result.usage
    sent = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    cost, source = session_cost(agent)
    parts = [
        f"{human(sent)} in",
        f"{human(usage.output_tokens)} out",
        context_figure(agent.get_context_state()),
        f"turn {cost_text(result.cost_usd, result.cost_source)}",
        f"session {cost_text(cost, source)}",
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
        f"{cost_text(cost, source)} │ /help"
    )
