"""The `Workflow` base class: steps, limits, hooks, usage and cost of a multi-step run.

A workflow's `_execute` drives agents through `run_step`, which runs one agent turn as a
numbered step: it checks the workflow's limits first (steps, cost, a stop request), gives
the agent what is left of the budget, forwards the agent's events, fires the step hooks
and records the step. `run` wraps `_execute` with the total timeout and the workflow hooks
and returns a `WorkflowResult` whatever happened.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from mamba_agents.errors import AgentError, ConfigError
from mamba_agents.events import Event, RunResult, WorkflowStepEvent
from mamba_agents.messages import Usage
from mamba_agents.observability import span

if TYPE_CHECKING:
    from mamba_agents.engine import Agent
    from mamba_agents.store import SessionStore
    from mamba_agents.tools import Tool

log = logging.getLogger("mamba_agents.workflows")

DepsT = TypeVar("DepsT")
OutputT = TypeVar("OutputT")
StateT = TypeVar("StateT")


@dataclass
class WorkflowConfig:
    """Limits of a workflow run. `max_cost` (USD) caps the whole workflow; a step gets only
    what is left of it. Timeouts are in seconds (None: no limit)."""

    max_steps: int = 50
    max_iterations: int = 10
    timeout_seconds: float | None = 300.0
    step_timeout_seconds: float | None = None
    enable_hooks: bool = True
    track_state: bool = True
    max_cost: float | None = None

    def __post_init__(self) -> None:
        for key in ("max_steps", "max_iterations"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}: must be at least 1, got {getattr(self, key)}")
        for key in ("timeout_seconds", "step_timeout_seconds", "max_cost"):
            value = getattr(self, key)
            if value is not None and not value > 0:
                raise ConfigError(f"{key}: must be above zero, got {value}")


@dataclass
class WorkflowStep:
    """One step: an agent turn (or a hook-visible piece of work) and how it went."""

    step_number: int
    step_type: str
    description: str
    agent: str | None = None
    status: str = "running"
    output: str = ""
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    duration_ms: int = 0
    session_id: str | None = None
    state_id: str | None = None
    num_turns: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step_number,
            "type": self.step_type,
            "description": self.description,
            "agent": self.agent,
            "status": self.status,
            "error": self.error,
            "usage": self.usage.to_dict(),
            "cost_usd": self.cost_usd,
            "duration_ms": self.duration_ms,
            "num_turns": self.num_turns,
            "session_id": self.session_id,
            "state_id": self.state_id,
        }


@dataclass
class WorkflowState(Generic[StateT]):
    """What a workflow knows as it runs: its own `context`, iterations, and the steps."""

    context: StateT | None = None
    iteration_count: int = 0
    steps: list[WorkflowStep] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorkflowResult(Generic[OutputT, StateT]):
    """How a workflow run ended. `termination_reason` is `success`, `max_iterations`,
    `max_steps`, `max_cost`, `timeout`, `interrupted` or `error`."""

    success: bool
    output: OutputT | None
    state: WorkflowState[StateT]
    total_steps: int
    termination_reason: str
    error: str | None = None
    duration_seconds: float = 0.0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    workflow: str = ""
    session_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The result object `mamba workflow` prints: the fields of a run's result object
        (so stream readers parse it alike), and the workflow's steps."""
        steps = self.state.steps
        return {
            "type": "result",
            "status": self.termination_reason,
            "result": self.output if isinstance(self.output, str) else str(self.output or ""),
            "session_id": self.session_id,
            "state_id": None,
            "model": None,
            "num_turns": sum(step.num_turns for step in steps),
            "usage": self.usage.to_dict(),
            "cost_usd": round(self.cost_usd, 8),
            "cost_source": "estimated",
            "stop_reason": None,
            "duration_ms": int(self.duration_seconds * 1000),
            "permission_denials": [],
            "error": self.error,
            "workflow": self.workflow,
            "success": self.success,
            "total_steps": self.total_steps,
            "total_cost_usd": self.cost_usd,
            "steps": [step.to_dict() for step in steps],
        }


Hook = Callable[..., Any] | None


@dataclass
class WorkflowHooks:
    """Callbacks at each point of a workflow run. A hook that raises is logged and the
    workflow goes on."""

    on_workflow_start: Hook = None  # (state)
    on_workflow_complete: Hook = None  # (result)
    on_workflow_error: Hook = None  # (state, error)
    on_step_start: Hook = None  # (state, step_number, step_type)
    on_step_complete: Hook = None  # (state, step)
    on_step_error: Hook = None  # (state, step, error)
    on_iteration_start: Hook = None  # (state, iteration)
    on_iteration_complete: Hook = None  # (state, iteration)


class WorkflowStop(AgentError):
    """Ends a workflow run early with a `termination_reason` other than error."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class Workflow(ABC, Generic[DepsT, OutputT, StateT]):
    """Extend this: give a `name`, `_create_initial_state(prompt)` and
    `async _execute(prompt, state, deps)`; call `run_step` to run an agent as a step.
    `await workflow.run(prompt)` returns a `WorkflowResult`.

    `on_event` (set it before running) receives every agent event, with a
    `WorkflowStepEvent` before and after each step; `store` saves a session that records
    the steps and links each agent's own session.
    """

    def __init__(
        self,
        config: WorkflowConfig | None = None,
        hooks: WorkflowHooks | None = None,
        *,
        store: SessionStore | None = None,
    ):
        self._config = config or WorkflowConfig()
        self._hooks = hooks or WorkflowHooks()
        self.store = store
        self.on_event: Callable[[Event], None] | None = None
        self.pattern = ""  # what `mamba workflow` calls the pattern
        self.label: str | None = None
        """What the user calls this workflow (a workflow file's name); default: `name`."""
        self._active: set[Agent] = set()
        self._stopping = False
        self._record: Any = None
        self.last_result: WorkflowResult[OutputT, StateT] | None = None

    @property
    @abstractmethod
    def name(self) -> str:
        """The workflow's name."""

    @abstractmethod
    def _create_initial_state(self, prompt: str) -> WorkflowState[StateT]:
        """The state a run starts from."""

    @abstractmethod
    async def _execute(self, prompt: str, state: WorkflowState[StateT], deps: DepsT | None) -> Any:
        """Do the work; return the output."""

    @property
    def config(self) -> WorkflowConfig:
        return self._config

    @property
    def hooks(self) -> WorkflowHooks:
        return self._hooks

    # -- running -----------------------------------------------------------------------------
    async def run(self, prompt: str, deps: DepsT | None = None) -> WorkflowResult[OutputT, StateT]:
        """Run the workflow on `prompt`; never raises for what happens inside it (the
        result says), only for a bad argument."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError("prompt: the workflow needs a task")
        from mamba_agents.workflows._record import WorkflowRecord

        self._stopping = False
        started = time.monotonic()
        state = self._create_initial_state(prompt)
        self._record = WorkflowRecord.start(self, prompt) if self.store is not None else None
        self._fire("on_workflow_start", state)
        output: Any = None
        reason, error = "success", None
        label = self.label or self.name
        attributes = {"mamba.workflow.name": label, "mamba.workflow.pattern": self.pattern or None}
        with span(f"workflow {label}", attributes) as traced:
            try:
                work = self._execute(prompt, state, deps)
                output = await asyncio.wait_for(work, self._config.timeout_seconds)
            except WorkflowStop as stop:
                reason, error = stop.reason, str(stop)
            except TimeoutError:
                reason = "timeout"
                error = f"the workflow timed out after {self._config.timeout_seconds:g} s"
                self._fire("on_workflow_error", state, TimeoutError(error))
            except AgentError as exc:
                reason, error = "error", str(exc)
                self._fire("on_workflow_error", state, exc)
            if self._stopping:
                reason = "interrupted"
            traced.set_attributes(
                {
                    "mamba.workflow.status": reason,
                    "mamba.workflow.steps": len(state.steps),
                    "mamba.cost_usd": sum(s.cost_usd for s in state.steps),
                }
            )
            if reason in ("error", "timeout"):
                traced.set_attribute("error.type", reason)
                traced.set_status("error", error)
        steps = state.steps
        result: WorkflowResult[OutputT, StateT] = WorkflowResult(
            success=reason == "success",
            output=output,
            state=state,
            total_steps=len(steps),
            termination_reason=reason,
            error=error,
            duration_seconds=time.monotonic() - started,
            usage=sum((s.usage for s in steps), Usage()),
            cost_usd=sum(s.cost_usd for s in steps),
            workflow=self.name,
            session_id=self._record.session.id if self._record is not None else None,
        )
        if self._record is not None:
            self._record.finish(result)
        self.last_result = result
        self._fire("on_workflow_complete", result)
        return result

    def stop(self) -> None:
        """Stop the run (from a signal handler): the agents' turns end as interrupted, the
        completed steps are kept, and the result says `interrupted`."""
        self._stopping = True
        for agent in list(self._active):
            agent.interrupt()

    async def run_step(
        self,
        state: WorkflowState[StateT],
        agent: Agent,
        prompt: str,
        *,
        step_type: str,
        description: str = "",
        tools: Sequence[Tool] = (),
        max_turns: int | None = None,
    ) -> RunResult:
        """Run one turn of `agent` as the next step; its `RunResult` (status `success`, or
        the limit that stopped the turn). A failed turn raises its error; a stop request,
        the step limit or the budget raise `WorkflowStop`."""
        number = self._begin(state)
        step = WorkflowStep(number, step_type, description or step_type, agent.name)
        if self._config.track_state:
            state.steps.append(step)
        self._fire("on_step_start", state, number, step_type)
        pattern = self.pattern or self.name
        self._emit(WorkflowStepEvent(number, pattern, agent.name, "start", step.description))
        started = time.monotonic()
        result: RunResult | None = None
        self._active.add(agent)
        attributes = {
            "mamba.workflow.name": self.label or self.name,
            "mamba.workflow.step": number,
            "mamba.workflow.step_type": step_type,
            "gen_ai.agent.name": agent.name,
        }
        try:
            with span(f"workflow_step {number} {agent.name}", attributes) as traced:
                async for event in agent.run_stream(
                    prompt,
                    max_turns=max_turns,
                    max_cost=self._budget_left(state),
                    timeout=self._config.step_timeout_seconds,
                    tools=tools,
                ):
                    if isinstance(event, RunResult):
                        result = event
                        traced.set_attribute("mamba.run.status", event.status)
                        if event.status in ("error", "timeout"):
                            traced.set_attribute("error.type", event.status)
                            traced.set_status("error", event.error)
                    else:
                        self._emit(event)
        finally:
            self._active.discard(agent)
        assert result is not None
        step.status, step.output = result.status, result.output
        step.usage, step.cost_usd = result.usage, result.cost_usd
        step.duration_ms = int((time.monotonic() - started) * 1000)
        step.session_id, step.state_id = result.session_id, result.state_id
        step.num_turns = result.num_turns
        if result.status != "success":
            step.error = result.error
        self._emit(WorkflowStepEvent(number, pattern, agent.name, step.status, step.description))
        if self._record is not None:
            self._record.add_step(step)
        if result.status == "error":
            self._fire("on_step_error", state, step, result.exception)
            raise result.exception or AgentError(result.error or "the step failed")
        if self._stopping or result.status == "interrupted":
            self._stopping = True
            raise WorkflowStop("interrupted", f"interrupted at step {number}")
        if result.status == "timeout":
            error = TimeoutError(f"step {number} timed out")
            self._fire("on_step_error", state, step, error)
            raise WorkflowStop("timeout", f"step {number} ({agent.name}) timed out")
        self._fire("on_step_complete", state, step)
        return result

    def _begin(self, state: WorkflowState[StateT]) -> int:
        """The next step's number, once the limits allow it."""
        if self._stopping:
            raise WorkflowStop("interrupted", "interrupted")
        done = len(state.steps)
        if done >= self._config.max_steps:
            raise WorkflowStop("max_steps", f"reached max_steps ({self._config.max_steps})")
        left = self._budget_left(state)
        if left is not None and left <= 0:
            spent = sum(s.cost_usd for s in state.steps)
            raise WorkflowStop("max_cost", f"the budget is spent (${spent:.4f})")
        return done + 1

    def _budget_left(self, state: WorkflowState[StateT]) -> float | None:
        if self._config.max_cost is None:
            return None
        return self._config.max_cost - sum(s.cost_usd for s in state.steps)

    def iteration(self, state: WorkflowState[StateT]) -> int:
        """Count one more iteration and fire its start hook; the workflow enforces
        `max_iterations` itself (`WorkflowStop("max_iterations", ...)`)."""
        state.iteration_count += 1
        self._fire("on_iteration_start", state, state.iteration_count)
        return state.iteration_count

    def iteration_done(self, state: WorkflowState[StateT]) -> None:
        self._fire("on_iteration_complete", state, state.iteration_count)

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _fire(self, hook: str, *args: Any) -> None:
        """Call a hook if it is set; one that raises is logged, never fatal."""
        function = getattr(self._hooks, hook, None)
        if function is None or not self._config.enable_hooks:
            return
        try:
            function(*args)
        except Exception as exc:
            log.warning("workflow hook %s raised %s: %s", hook, type(exc).__name__, exc)

    def get_cost(self) -> float:
        """What the last run cost, in USD."""
        return self.last_result.cost_usd if self.last_result is not None else 0.0
