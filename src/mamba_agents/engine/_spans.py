"""The attributes of the engine's spans, in OpenTelemetry's GenAI conventions
(`gen_ai.*`) plus mamba's own (`mamba.*`: cost, status, session)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mamba_agents.backends import ModelRequest
    from mamba_agents.context import CompactionResult
    from mamba_agents.engine._steps import ModelResponse
    from mamba_agents.events import RunResult
    from mamba_agents.messages import Usage


def _model(model: str) -> dict[str, Any]:
    """The model asked for and its provider (`openai` for `openai/gpt-4o`)."""
    provider, slash, _ = model.partition("/")
    provider = provider if slash else None
    return {
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "gen_ai.request.model": model,
    }


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "gen_ai.usage.input_tokens": usage.prompt_tokens,  # cached ones included
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.cache_read_tokens or None,
        "gen_ai.usage.cache_creation.input_tokens": usage.cache_write_tokens or None,
    }


def request_attributes(model: str, request: ModelRequest) -> dict[str, Any]:
    """What a `chat` span knows before the request is sent."""
    return {
        "gen_ai.operation.name": "chat",
        **_model(model),
        "gen_ai.request.temperature": request.temperature,
        "gen_ai.request.max_tokens": request.max_tokens,
        "mamba.request.messages": len(request.messages),
        "mamba.request.tools": len(request.tools or ()),
    }


def response_attributes(response: ModelResponse) -> dict[str, Any]:
    """What a `chat` span learns from the answer."""
    reasons = [response.finish_reason] if response.finish_reason else None
    return {
        "gen_ai.response.model": response.response_model,
        "gen_ai.response.id": response.response_id,
        "gen_ai.response.finish_reasons": reasons,
        **_usage(response.usage),
        "mamba.cost_usd": response.cost_usd,
        "mamba.cost_source": response.cost_source,
        "mamba.retries": response.retries or None,
        "mamba.tool_calls": len(response.message.tool_calls) or None,
    }


def agent_attributes(name: str, model: str, session_id: str | None) -> dict[str, Any]:
    """What an `invoke_agent` span knows as the run starts."""
    return {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": name,
        **_model(model),
        "gen_ai.conversation.id": session_id,
    }


def run_attributes(result: RunResult) -> dict[str, Any]:
    """What an `invoke_agent` span learns from the run's result."""
    return {
        "mamba.run.status": result.status,
        "mamba.run.turns": result.num_turns,
        "mamba.run.stop_reason": result.stop_reason,
        "mamba.state.id": result.state_id,
        **_usage(result.usage),
        "mamba.cost_usd": result.cost_usd,
        "mamba.cost_source": result.cost_source,
    }


def tool_attributes(name: str, call_id: str, risk: str | None) -> dict[str, Any]:
    """An `execute_tool` span's attributes."""
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": call_id,
        "gen_ai.tool.type": "function",
        "mamba.tool.risk": risk,
    }


def compaction_attributes(result: CompactionResult) -> dict[str, Any]:
    """A `compaction` span's attributes, from what the compaction did."""
    return {
        "mamba.compaction.strategy": result.strategy,
        "mamba.compaction.removed_messages": result.removed_count,
        "mamba.compaction.tokens_before": result.tokens_before,
        "mamba.compaction.tokens_after": result.tokens_after,
        "mamba.compaction.reached_target": result.reached_target,
        "mamba.cost_usd": result.cost_usd,
    }
