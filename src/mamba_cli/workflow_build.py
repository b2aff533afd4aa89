"""From a checked workflow spec and the command's agent parts to agents and a workflow."""

from __future__ import annotations

from typing import Any

from mamba_cli.options import AgentFlags, AgentParts
from mamba_cli.workflow_files import AgentSpec, WorkflowSpec


def build_agent(spec: AgentSpec | None, parts: AgentParts, flags: AgentFlags) -> Any:
    """One agent: the spec's model, system prompt and tools (a subset of the command's,
    under the same permission rules), its own session in the store."""
    from mamba_agents.engine import Agent
    from mamba_agents.errors import ConfigError

    tools = parts.tools
    mcp = parts.mcp
    if spec is not None and spec.tools is not None:
        by_name = {tool.name: tool for tool in parts.tools}
        wanted = [name for name in spec.tools if not name.startswith("mcp__")]
        unknown = [name for name in wanted if name not in by_name]
        if unknown:
            known = ", ".join(sorted(by_name)) or "none (--no-tools?)"
            raise ConfigError(
                f"agents.{spec.name}.tools: unknown tool {unknown[0]!r} (available: {known})"
            )
        tools = [by_name[name] for name in wanted]
        mcp = parts.mcp if any(name.startswith("mcp__") for name in spec.tools) else None
    return Agent(
        spec.model if spec is not None else None,
        settings=parts.settings,
        store=parts.store,
        system_prompt=(spec.system_prompt if spec is not None else "") or (flags.system or ""),
        tools=tools,
        permissions=parts.policy,
        mcp=mcp,
        name=spec.name if spec is not None else None,
        description=spec.description if spec is not None else "",
    )


def build_workflow(
    spec: WorkflowSpec, parts: AgentParts, flags: AgentFlags
) -> tuple[Any, list[Any]]:
    """The workflow the spec describes, and every agent it made (to close at the end)."""
    from mamba_agents import workflows as wf

    agents = {name: build_agent(spec.agents[name], parts, flags) for name in spec.agent_names()}
    made = list(agents.values())
    o = spec.options
    limits: dict[str, Any] = {
        **spec.limits,
        "max_cost": flags.max_cost,
        "timeout_seconds": flags.timeout,
    }
    limits = {k: v for k, v in limits.items() if v is not None}
    common = {"store": parts.store}
    if spec.pattern in ("react", "plan_execute"):
        agent = agents.get(o.get("agent", "")) or build_agent(None, parts, flags)
        made = [agent]
        options = {k: v for k, v in o.items() if k != "agent"}
        if spec.pattern == "react":
            flow: Any = wf.ReActWorkflow(
                agent, config=wf.ReActConfig(**limits, **options), **common
            )
        else:
            flow = wf.PlanExecuteWorkflow(
                agent, config=wf.PlanExecuteConfig(**limits, **options), **common
            )
        return flow, made
    config = wf.WorkflowConfig(**limits)
    if spec.pattern == "chain":
        flow = wf.ChainWorkflow(
            [agents[n] for n in o["sequence"]],
            cumulative=o.get("cumulative", False),
            config=config,
            **common,
        )
    elif spec.pattern == "parallel":
        fan_in = agents[o["fan_in"]] if o.get("fan_in") else None
        flow = wf.ParallelWorkflow(
            [agents[n] for n in o["fan_out"]],
            fan_in,
            include_request=o.get("include_request", True),
            config=config,
            **common,
        )
    elif spec.pattern == "router":
        router = agents[o["router"]] if o.get("router") else None
        flow = wf.RouterWorkflow([agents[n] for n in o["agents"]], router, config=config, **common)
    else:
        flow = wf.EvaluatorOptimizerWorkflow(
            agents[o["generator"]],
            agents[o["evaluator"]],
            min_rating=o.get("min_rating", "GOOD"),
            max_refinements=o.get("max_refinements", 3),
            config=config,
            **common,
        )
    if spec.pattern == "router" and o.get("router") is None:
        made.append(flow.router_agent())
    flow.label = spec.name
    return flow, made
