"""`mamba workflow`: run a built-in or file-defined workflow; list and show them."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from mamba_cli import options as opt
from mamba_cli import output

# How a workflow's end becomes the process's exit code (README, "Exit codes").
EXIT_CODES = {
    "success": 0,
    "error": 1,
    "max_iterations": 3,
    "max_steps": 3,
    "max_cost": 4,
    "timeout": 124,
    "interrupted": 130,
}


def register(app: typer.Typer) -> None:
    app.command(name="workflow")(workflow)


@opt.agent_command(own_options_after="no_save")
def workflow(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="A built-in (react, plan-execute), a workflow file's name or path; "
            "'list' lists them, 'show NAME' checks and describes one."
        ),
    ],
    task: Annotated[
        str | None,
        typer.Argument(help="The task. Piped stdin is added as context; '-' reads it."),
    ] = None,
    *,
    flags: opt.AgentFlags,
    output_format: opt.OutputFormat = "text",
) -> int:
    """Run a workflow on a task: mamba workflow NAME "task"."""
    from mamba_agents.errors import ConfigError
    from mamba_cli import workflow_files
    from mamba_cli.commands.run import read_prompt

    if name == "list":
        return list_workflows()
    if name == "show":
        if not task:
            raise ConfigError("show: name the workflow to show (mamba workflow show NAME)")
        return show(workflow_files.find(task))
    opt.check_output_format(output_format)
    if flags.session or flags.continue_latest:
        raise ConfigError("--session/--continue: a workflow starts sessions of its own")
    spec = workflow_files.find(name)
    text = read_prompt(task)
    return execute(ctx, flags, spec, text, output_format)


def list_workflows() -> int:
    from mamba_agents.errors import ConfigError
    from mamba_cli import workflow_files

    rows = [(name, "built-in", about) for name, about in workflow_files.BUILT_IN.items()]
    for name, path in workflow_files.found().items():
        try:
            spec = workflow_files.load(path)
            rows.append((name, spec.pattern, spec.description or "(no description)"))
        except ConfigError as exc:
            rows.append((name, "invalid", str(exc)))
    width = max(len(row[0]) for row in rows)
    for name, pattern, about in rows:
        output.write_data(f"{name:<{width}}  {pattern:<19}  {about}\n")
    return 0


def show(spec: Any) -> int:
    lines = [f"{spec.name}: {spec.pattern}" + (f" ({spec.path})" if spec.path else " (built-in)")]
    if spec.description:
        lines.append(f"  {spec.description}")
    for key, value in spec.options.items():
        lines.append(f"  {key} = {value}")
    for key, value in spec.limits.items():
        lines.append(f"  {key} = {value}")
    for agent_name in spec.agent_names():
        agent = spec.agents[agent_name]
        tools = ", ".join(agent.tools) if agent.tools is not None else "all"
        lines.append(f"  agent {agent_name}: {agent.description or '(no description)'}")
        lines.append(f"    model: {agent.model or '(the run model)'}; tools: {tools}")
    if not spec.agents:
        lines.append("  one agent: the run's model and tools")
    output.write_data("\n".join(lines) + "\n")
    return 0


def execute(ctx: typer.Context, flags: opt.AgentFlags, spec: Any, task: str, fmt: str) -> int:
    """Build the agents and the workflow, run it with progress, print the result."""
    import asyncio
    import signal

    from mamba_cli.workflow_build import build_workflow

    parts = opt.agent_parts(ctx, flags)
    flow, agents = build_workflow(spec, parts, flags)
    for agent in {agent.model: agent for agent in agents}.values():
        opt.warn_if_unpriced(agent, flags.max_cost)
    renderer = WorkflowRenderer(fmt, spec)
    flow.on_event = renderer.handle

    async def drive() -> Any:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, flow.stop)
        try:
            return await flow.run(task)
        finally:
            for agent in agents:
                await agent.aclose()

    result = asyncio.run(drive())
    renderer.finish(result)
    return EXIT_CODES.get(result.termination_reason, 1)


class WorkflowRenderer:
    """Progress on stderr (a line per step, the tool calls), the answer or result object
    on stdout; stream-json prints every event with `workflow_step` events around steps."""

    def __init__(self, fmt: str, spec: Any):
        self.format = fmt
        self.spec = spec
        planned = {"chain": len(spec.agent_names()), "router": 2}
        if spec.pattern == "parallel":
            planned["parallel"] = len(spec.agent_names())
        self.planned = planned.get(spec.pattern)

    def handle(self, event: Any) -> None:
        from mamba_agents.events import ErrorEvent, WorkflowStepEvent
        from mamba_cli.commands.run import progress_line

        if self.format == "stream-json":
            output.print_json_line(event.to_dict())
        if isinstance(event, WorkflowStepEvent) and event.status == "start":
            total = f"/{self.planned}" if self.planned else ""
            about = f": {output.shorten(event.description, 70)}" if event.description else ""
            output.progress(f"[{event.step}{total}] {event.agent}{about}")
        elif isinstance(event, ErrorEvent):
            output.warn(event.message)
        else:
            line = progress_line(event, indent="  ")
            if line is not None:
                output.progress(line)

    def finish(self, result: Any) -> None:
        data = result.to_dict()
        if self.format in ("json", "stream-json"):
            (output.print_json if self.format == "json" else output.print_json_line)(data)
        elif data["result"]:
            sys.stdout.write(data["result"].rstrip("\n") + "\n")
            sys.stdout.flush()
        if result.termination_reason == "error":
            output.error_line(result.error or "the workflow failed")
        elif not result.success:
            output.error_line(f"stopped: {result.error or result.termination_reason}")
        saved = f", session {result.session_id}" if result.session_id else ""
        output.progress(
            f"workflow {result.workflow}: {result.total_steps} steps, "
            f"{output.money(result.cost_usd)}{saved}"
        )
