"""ReAct: Thought -> Action -> Observation, until the model calls the final-answer tool.

The final-answer tool belongs to the workflow: it is offered for the workflow's turns only
(`Agent.run_stream(tools=...)`), so the agent itself never gains it and two workflows can
share one agent. Each model request is one iteration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mamba_agents.errors import ConfigError
from mamba_agents.events import AssistantMessage, Event, ToolResult
from mamba_agents.tools import Tool
from mamba_agents.workflows._base import (
    Hook,
    Workflow,
    WorkflowConfig,
    WorkflowHooks,
    WorkflowState,
    WorkflowStop,
)

if TYPE_CHECKING:
    from mamba_agents.engine import Agent

INSTRUCTIONS = """Work on the task below step by step. Before each action, say in a sentence
or two what you think and what you will do. Act with the tools; their results come back as
observations. When you have the answer, call the `{tool}` tool with it; do not just write it.

Task: {task}"""
CONTINUE = "Go on: act with a tool, or call `{tool}` with the answer."
FORCE = (
    "You have thought enough. Act now: call a tool, or call `{tool}` with the answer. "
    "If you answer in text again, that text is taken as the final answer."
)


@dataclass
class ReActConfig(WorkflowConfig):
    """`WorkflowConfig` plus the ReAct loop's options."""

    expose_reasoning: bool = True
    reasoning_prefix: str = "Thought: "
    action_prefix: str = "Action: "
    observation_prefix: str = "Observation: "
    final_answer_tool_name: str = "final_answer"
    auto_compact_in_workflow: bool = True
    compact_threshold_ratio: float = 0.8
    max_consecutive_thoughts: int = 3
    tool_retry_count: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.compact_threshold_ratio <= 1:
            raise ConfigError("compact_threshold_ratio: must be above 0 and at most 1")
        if self.max_consecutive_thoughts < 1:
            raise ConfigError("max_consecutive_thoughts: must be at least 1")
        if self.tool_retry_count < 0:
            raise ConfigError("tool_retry_count: must not be negative")
        if not self.final_answer_tool_name.replace("_", "").isalnum():
            raise ConfigError("final_answer_tool_name: letters, digits and _ only")


@dataclass
class ReActHooks(WorkflowHooks):
    """`WorkflowHooks` plus the loop's own moments."""

    on_thought: Hook = None  # (state, thought)
    on_action: Hook = None  # (state, tool_name, arguments)
    on_observation: Hook = None  # (state, observation, is_error)
    on_compaction: Hook = None  # (compaction result)


@dataclass
class ScratchpadEntry:
    """One line of the reasoning trace: `thought`, `action`, `observation` or
    `final_answer`."""

    entry_type: str
    content: str
    iteration: int = 0
    tool_name: str | None = None
    tool_args: dict[str, Any] | None = None
    is_error: bool = False


@dataclass
class ReActContext:
    """ReAct's part of the workflow state."""

    task: str
    scratchpad: list[ScratchpadEntry] = field(default_factory=list)
    final_answer: str | None = None
    consecutive_thoughts: int = 0


class ReActWorkflow(Workflow[None, str, ReActContext]):
    """`ReActWorkflow(agent, config=ReActConfig(...), hooks=ReActHooks(...))`."""

    def __init__(
        self,
        agent: Agent,
        config: ReActConfig | None = None,
        hooks: ReActHooks | None = None,
        **options: Any,
    ):
        super().__init__(config or ReActConfig(), hooks or ReActHooks(), **options)
        self.agent = agent
        self.pattern = "react"
        self._state: WorkflowState[ReActContext] | None = None

    @property
    def name(self) -> str:
        return "react"

    @property
    def react_config(self) -> ReActConfig:
        assert isinstance(self._config, ReActConfig)
        return self._config

    def _create_initial_state(self, prompt: str) -> WorkflowState[ReActContext]:
        self._state = WorkflowState(context=ReActContext(task=prompt))
        return self._state

    async def _execute(
        self, prompt: str, state: WorkflowState[ReActContext], deps: None = None
    ) -> str:
        context = state.context
        assert context is not None
        cfg = self.react_config
        tool = cfg.final_answer_tool_name
        message = INSTRUCTIONS.format(tool=tool, task=prompt)
        while context.final_answer is None:
            await self._compact_if_needed()
            left = cfg.max_iterations - state.iteration_count
            if left <= 0:
                raise WorkflowStop(
                    "max_iterations", f"reached max_iterations ({cfg.max_iterations})"
                )
            forced = context.consecutive_thoughts >= cfg.max_consecutive_thoughts
            before = len(context.scratchpad)
            tools = [self._final_answer_tool(state), *self._retrying_tools()]
            with _Listening(self, state):
                result = await self.run_step(
                    state,
                    self.agent,
                    message,
                    step_type="react",
                    description="reason and act",
                    tools=tools,
                    max_turns=left,
                )
            if context.final_answer is not None:
                break
            acted = any(e.entry_type == "action" for e in context.scratchpad[before:])
            if acted:
                context.consecutive_thoughts = 0
            else:
                context.consecutive_thoughts += 1
                if forced and result.output:
                    self._note(state, "final_answer", result.output)
                    context.final_answer = result.output
                    break
            if result.status == "max_turns":
                raise WorkflowStop(
                    "max_iterations", f"reached max_iterations ({cfg.max_iterations})"
                )
            forced = context.consecutive_thoughts >= cfg.max_consecutive_thoughts
            message = (FORCE if forced else CONTINUE).format(tool=tool)
        return context.final_answer or ""

    # -- the loop's pieces --------------------------------------------------------------------
    def observe(self, state: WorkflowState[ReActContext], event: Event) -> None:
        """Turn the agent's events into scratchpad entries and hooks."""
        cfg = self.react_config
        if isinstance(event, AssistantMessage):
            self.iteration(state)
            thought = event.message.text.strip()
            if thought:
                if cfg.expose_reasoning:
                    self._note(state, "thought", thought)
                self._fire("on_thought", state, thought)
            for call in event.message.tool_calls:
                if call.name == cfg.final_answer_tool_name:
                    continue
                try:
                    arguments = call.parsed_arguments()
                except ValueError:
                    arguments = {"raw": call.arguments}
                self._note(state, "action", call.name, tool_name=call.name, tool_args=arguments)
                self._fire("on_action", state, call.name, arguments)
            self.iteration_done(state)
        elif isinstance(event, ToolResult) and event.name != cfg.final_answer_tool_name:
            self._note(state, "observation", event.content, is_error=event.is_error)
            self._fire("on_observation", state, event.content, event.is_error)

    def _note(self, state: WorkflowState[ReActContext], kind: str, text: str, **extra: Any) -> None:
        assert state.context is not None
        state.context.scratchpad.append(ScratchpadEntry(kind, text, state.iteration_count, **extra))

    def _final_answer_tool(self, state: WorkflowState[ReActContext]) -> Tool:
        def final_answer(answer: str) -> str:
            """Give the final answer to the task; call this once you know it.

            Args:
                answer: The complete final answer.
            """
            text = unwrap_answer(answer)
            assert state.context is not None
            state.context.final_answer = text
            self._note(state, "final_answer", text)
            self.agent.finish_turn()
            return "Recorded the final answer."

        from mamba_agents.tools import tool_from_function

        made = tool_from_function(final_answer)
        return Tool(
            self.react_config.final_answer_tool_name,
            made.description,
            made.parameters,
            made.function,
            risk="read",
        )

    def _retrying_tools(self) -> list[Tool]:
        """The agent's read-only tools, each tried again up to `tool_retry_count` times when
        it fails; tools that change things are never run twice."""
        retries = self.react_config.tool_retry_count
        if not retries:
            return []
        return [
            _retrying(tool, retries) for tool in self.agent.tools.values() if tool.risk == "read"
        ]

    async def _compact_if_needed(self) -> None:
        cfg = self.react_config
        if not cfg.auto_compact_in_workflow or not self.agent.session.states:
            return
        context = self.agent.get_context_state()
        window = context.context_window or 128_000
        trigger = self.agent.compaction_config.trigger_for(window)
        if context.token_count > cfg.compact_threshold_ratio * trigger:
            result = await self.agent.compact()
            if result.removed_count:
                self._fire("on_compaction", result)

    # -- what the seed offers beside the result -------------------------------------------------
    def get_reasoning_trace(self) -> str:
        """The last run's scratchpad as text, each line with its prefix."""
        if self._state is None or self._state.context is None:
            return ""
        cfg = self.react_config
        prefixes = {
            "thought": cfg.reasoning_prefix,
            "action": cfg.action_prefix,
            "observation": cfg.observation_prefix,
            "final_answer": "Final answer: ",
        }
        lines = []
        for entry in self._state.context.scratchpad:
            text = entry.content
            if entry.entry_type == "action":
                text = f"{entry.tool_name}({json.dumps(entry.tool_args or {})})"
            lines.append(prefixes[entry.entry_type] + text)
        return "\n".join(lines)


class _Listening:
    """Route the agent's events through the workflow's scratchpad while a step runs."""

    def __init__(self, workflow: ReActWorkflow, state: WorkflowState[ReActContext]):
        self.workflow, self.state = workflow, state
        self.outer = workflow.on_event

    def __enter__(self) -> None:
        def both(event: Event) -> None:
            self.workflow.observe(self.state, event)
            if self.outer is not None:
                self.outer(event)

        self.workflow.on_event = both

    def __exit__(self, *exc: object) -> None:
        self.workflow.on_event = self.outer


def unwrap_answer(answer: Any) -> str:
    """A final answer as text: one that arrived as a JSON string of an object with an
    `answer` (`'{"answer": "42"}'`) is unwrapped."""
    text = answer if isinstance(answer, str) else json.dumps(answer)
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict) and "answer" in value:
        return unwrap_answer(value["answer"])
    return text


def _retrying(tool: Tool, retries: int) -> Tool:
    async def call(**arguments: Any) -> str:
        failures = 0
        while True:
            try:
                return await tool.invoke(arguments)
            except Exception:
                failures += 1
                if failures > retries:
                    raise

    return Tool(tool.name, tool.description, tool.parameters, call, tool.risk)
