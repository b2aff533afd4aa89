"""Plan-execute: the model writes a plan (a list of steps), each step is carried out with
tools, a failed step leads to a new plan for the rest, and a final answer draws on the
steps' results. One agent does it all, so each step sees the conversation so far."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mamba_agents.errors import ConfigError
from mamba_agents.workflows._base import Workflow, WorkflowConfig, WorkflowState, WorkflowStop

if TYPE_CHECKING:
    from mamba_agents.engine import Agent

PLAN = """Make a plan for the task below: a numbered list of 1 to {most} concrete steps, one
per line, and nothing else. Do not carry it out yet.

Task: {task}"""
STEP = """Carry out step {number} of the plan: {step}
Use the tools you need. End with the step's result. If the step cannot be done, start your
answer with FAILED: and say why."""
REPLAN = """Step {number} failed: {why}
Make a new plan for the rest of the task: a numbered list of at most {most} steps, one per
line, and nothing else."""
FINAL = """Every step is done. Using their results, give the final answer to the task: {task}"""

_ITEM = re.compile(r"^\s*(?:\d+[.):]|[-*•])\s+(.+?)\s*$")


@dataclass
class PlanExecuteConfig(WorkflowConfig):
    """`WorkflowConfig` plus how long a plan may be and how often it may be made again."""

    max_plan_steps: int = 7
    max_replans: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_plan_steps < 1:
            raise ConfigError("max_plan_steps: must be at least 1")
        if self.max_replans < 0:
            raise ConfigError("max_replans: must not be negative")


@dataclass
class PlanContext:
    """The plan in force, what each executed step returned, and how many re-plans."""

    task: str
    plan: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    replans: int = 0


def parse_plan(text: str, most: int) -> list[str]:
    """The steps of a plan the model wrote: a JSON list, or numbered or bulleted lines
    (any other non-empty lines when there are none)."""
    try:
        value = json.loads(text)
        if isinstance(value, list) and value:
            return [str(item).strip() for item in value if str(item).strip()][:most]
    except ValueError:
        pass
    lines = [line for line in text.splitlines() if line.strip()]
    items = [m.group(1) for m in map(_ITEM.match, lines) if m]
    return (items or [line.strip() for line in lines])[:most]


class PlanExecuteWorkflow(Workflow[None, str, PlanContext]):
    """`PlanExecuteWorkflow(agent, config=PlanExecuteConfig(...))`."""

    def __init__(
        self,
        agent: Agent,
        config: PlanExecuteConfig | None = None,
        hooks: Any = None,
        **options: Any,
    ):
        super().__init__(config or PlanExecuteConfig(), hooks, **options)
        self.agent = agent
        self.pattern = "plan_execute"

    @property
    def name(self) -> str:
        return "plan_execute"

    @property
    def plan_config(self) -> PlanExecuteConfig:
        assert isinstance(self._config, PlanExecuteConfig)
        return self._config

    def _create_initial_state(self, prompt: str) -> WorkflowState[PlanContext]:
        return WorkflowState(context=PlanContext(task=prompt))

    async def _execute(
        self, prompt: str, state: WorkflowState[PlanContext], deps: None = None
    ) -> str:
        context = state.context
        assert context is not None
        most = self.plan_config.max_plan_steps
        context.plan = await self._plan(state, PLAN.format(most=most, task=prompt))
        index = 0
        while index < len(context.plan):
            if state.iteration_count >= self._config.max_iterations:
                raise WorkflowStop(
                    "max_iterations", f"reached max_iterations ({self._config.max_iterations})"
                )
            self.iteration(state)
            number, step = index + 1, context.plan[index]
            result = await self.run_step(
                state,
                self.agent,
                STEP.format(number=number, step=step),
                step_type="execute",
                description=step,
            )
            failed = result.status != "success" or result.output.lstrip().startswith("FAILED")
            context.results.append({"step": step, "result": result.output, "ok": not failed})
            self.iteration_done(state)
            if not failed:
                index += 1
                continue
            if context.replans >= self.plan_config.max_replans:
                raise WorkflowStop(
                    "error",
                    f"step {number} failed and no re-plans are left: {result.output.strip()[:200]}",
                )
            context.replans += 1
            why = result.output.strip()[:500] or result.error or result.status
            context.plan = await self._plan(state, REPLAN.format(number=number, why=why, most=most))
            index = 0
        final = await self.run_step(
            state,
            self.agent,
            FINAL.format(task=prompt),
            step_type="answer",
            description="the final answer",
        )
        return final.output

    async def _plan(self, state: WorkflowState[PlanContext], prompt: str) -> list[str]:
        result = await self.run_step(
            state, self.agent, prompt, step_type="plan", description="make a plan"
        )
        plan = parse_plan(result.output, self.plan_config.max_plan_steps)
        if not plan:
            raise WorkflowStop("error", "the model wrote no plan")
        return plan
