"""The patterns that compose several agents: chain, parallel, router and
evaluator-optimizer. Each agent keeps its own conversation."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mamba_agents.errors import AgentError, ConfigError
from mamba_agents.workflows._base import Workflow, WorkflowConfig, WorkflowHooks, WorkflowState

if TYPE_CHECKING:
    from mamba_agents.engine import Agent

RATINGS = ("POOR", "FAIR", "GOOD", "EXCELLENT")


def _named(agents: Sequence[Agent], key: str) -> list[Agent]:
    agents = list(agents)
    if not agents:
        raise ConfigError(f"{key}: needs at least one agent")
    names = [a.name for a in agents]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ConfigError(f"{key}: two agents are named {doubled[0]!r}; give each a name")
    return agents


class _Composite(Workflow[None, str, dict[str, Any]]):
    """A workflow whose state is a dict of what each agent said."""

    def __init__(
        self,
        pattern: str,
        config: WorkflowConfig | None,
        hooks: WorkflowHooks | None,
        **options: Any,
    ):
        super().__init__(config, hooks, **options)
        self.pattern = pattern

    @property
    def name(self) -> str:
        return self.pattern

    def _create_initial_state(self, prompt: str) -> WorkflowState[dict[str, Any]]:
        return WorkflowState(context={"prompt": prompt, "outputs": {}})

    def _said(self, state: WorkflowState[dict[str, Any]], agent: Agent, text: str) -> None:
        assert state.context is not None
        state.context["outputs"][agent.name] = text


class ChainWorkflow(_Composite):
    """Each agent in `sequence` works on the request and the previous agent's result (with
    `cumulative`, every earlier result)."""

    def __init__(
        self,
        sequence: Sequence[Agent],
        *,
        cumulative: bool = False,
        config: WorkflowConfig | None = None,
        hooks: WorkflowHooks | None = None,
        **options: Any,
    ):
        super().__init__("chain", config, hooks, **options)
        self.sequence = _named(sequence, "sequence")
        self.cumulative = cumulative

    async def _execute(
        self, prompt: str, state: WorkflowState[dict[str, Any]], deps: None = None
    ) -> str:
        earlier: list[tuple[str, str]] = []
        output = ""
        for agent in self.sequence:
            shown = earlier if self.cumulative else earlier[-1:]
            message = prompt
            if shown:
                results = "\n\n".join(f"[{name}]\n{text}" for name, text in shown)
                message = f"The request:\n{prompt}\n\nThe work so far:\n{results}"
            result = await self.run_step(
                state,
                agent,
                message,
                step_type="chain",
                description=agent.description or agent.name,
            )
            output = result.output
            earlier.append((agent.name, output))
            self._said(state, agent, output)
        return output


class ParallelWorkflow(_Composite):
    """The `fan_out` agents work on the request at the same time; `fan_in` (if any) gets
    their results (and the request, with `include_request`) and writes the answer."""

    def __init__(
        self,
        fan_out: Sequence[Agent],
        fan_in: Agent | None = None,
        *,
        include_request: bool = True,
        config: WorkflowConfig | None = None,
        hooks: WorkflowHooks | None = None,
        **options: Any,
    ):
        super().__init__("parallel", config, hooks, **options)
        self.fan_out = _named(fan_out, "fan_out")
        if fan_in is not None and any(agent is fan_in for agent in self.fan_out):
            raise ConfigError("fan_in: must not also be one of fan_out")
        self.fan_in = fan_in
        self.include_request = include_request

    async def _execute(
        self, prompt: str, state: WorkflowState[dict[str, Any]], deps: None = None
    ) -> str:
        runs = [
            self.run_step(
                state,
                agent,
                prompt,
                step_type="fan_out",
                description=agent.description or agent.name,
            )
            for agent in self.fan_out
        ]
        results = await asyncio.gather(*runs)
        for agent, result in zip(self.fan_out, results, strict=True):
            self._said(state, agent, result.output)
        combined = "\n\n".join(
            f"[{agent.name}]\n{result.output}"
            for agent, result in zip(self.fan_out, results, strict=True)
        )
        if self.fan_in is None:
            return combined
        message = f"Results from {len(results)} agents:\n\n{combined}"
        if self.include_request:
            message = f"The request:\n{prompt}\n\n{message}"
        final = await self.run_step(
            state,
            self.fan_in,
            message,
            step_type="fan_in",
            description=self.fan_in.description or self.fan_in.name,
        )
        self._said(state, self.fan_in, final.output)
        return final.output


ROUTE = """Choose the agent best suited to the request below.

Agents:
{agents}

Request: {request}

Answer with JSON only: {{"agent": "<name>", "reason": "<one sentence>"}}"""


class RouterWorkflow(_Composite):
    """A model picks one of `agents` by their names and descriptions, and that agent
    answers. `router` asks (default: a tool-less agent on the first agent's model)."""

    def __init__(
        self,
        agents: Sequence[Agent],
        router: Agent | None = None,
        *,
        config: WorkflowConfig | None = None,
        hooks: WorkflowHooks | None = None,
        **options: Any,
    ):
        super().__init__("router", config, hooks, **options)
        self.agents = _named(agents, "agents")
        self.router = router

    def router_agent(self) -> Agent:
        """The agent that picks (made on first use when none was given)."""
        if self.router is None:
            from mamba_agents.engine import Agent

            first = self.agents[0]
            self.router = Agent(
                first.model, settings=first.settings, backend=first.backend, name="router"
            )
        return self.router

    async def _execute(
        self, prompt: str, state: WorkflowState[dict[str, Any]], deps: None = None
    ) -> str:
        listing = "\n".join(
            f"- {a.name}: {a.description or '(no description)'}" for a in self.agents
        )
        asked = await self.run_step(
            state,
            self.router_agent(),
            ROUTE.format(agents=listing, request=prompt),
            step_type="route",
            description="pick an agent",
        )
        chosen = self.pick(asked.output)
        assert state.context is not None
        state.context["route"] = chosen.name
        result = await self.run_step(
            state, chosen, prompt, step_type="routed", description=chosen.description or chosen.name
        )
        self._said(state, chosen, result.output)
        return result.output

    def pick(self, answer: str) -> Agent:
        """The agent the router's answer names (JSON `agent`, else the first name in it)."""
        by_name = {a.name: a for a in self.agents}
        named = _json_field(answer, "agent")
        if isinstance(named, str) and named.strip() in by_name:
            return by_name[named.strip()]
        found = [(answer.find(name), name) for name in by_name if name in answer]
        if found:
            return by_name[min(found)[1]]
        raise AgentError(
            f"the router named no known agent ({', '.join(by_name)}): {answer[:200]!r}"
        )


EVALUATE = """Evaluate the response below to the request. Rate it POOR, FAIR, GOOD or
EXCELLENT and say what would make it better.

Request: {request}

Response:
{response}

Answer with JSON only:
{{"rating": "<POOR|FAIR|GOOD|EXCELLENT>", "feedback": "<what to improve>"}}"""
REFINE = """Revise your response to the request using this feedback (rated {rating}):
{feedback}

Give the whole revised response."""


class EvaluatorOptimizerWorkflow(_Composite):
    """`generator` answers, `evaluator` rates it (POOR, FAIR, GOOD, EXCELLENT) with
    feedback, and the generator revises until the rating reaches `min_rating` or
    `max_refinements` revisions were made; the best-rated response is the output."""

    def __init__(
        self,
        generator: Agent,
        evaluator: Agent,
        *,
        min_rating: str = "GOOD",
        max_refinements: int = 3,
        config: WorkflowConfig | None = None,
        hooks: WorkflowHooks | None = None,
        **options: Any,
    ):
        super().__init__("evaluator_optimizer", config, hooks, **options)
        if generator is evaluator:
            raise ConfigError("evaluator: must be another agent than the generator")
        if str(min_rating).upper() not in RATINGS:
            raise ConfigError(
                f"min_rating: must be one of {', '.join(RATINGS)}, got {min_rating!r}"
            )
        if max_refinements < 0:
            raise ConfigError("max_refinements: must not be negative")
        self.generator, self.evaluator = generator, evaluator
        self.min_rating = str(min_rating).upper()
        self.max_refinements = max_refinements

    async def _execute(
        self, prompt: str, state: WorkflowState[dict[str, Any]], deps: None = None
    ) -> str:
        assert state.context is not None
        ratings: list[dict[str, Any]] = state.context.setdefault("ratings", [])
        message = prompt
        best: tuple[int, str] = (-1, "")
        for refinement in range(self.max_refinements + 1):
            answer = await self.run_step(
                state,
                self.generator,
                message,
                step_type="generate",
                description="revise" if refinement else "draft",
            )
            judged = await self.run_step(
                state,
                self.evaluator,
                EVALUATE.format(request=prompt, response=answer.output),
                step_type="evaluate",
                description="rate the response",
            )
            rating, feedback = parse_rating(judged.output)
            ratings.append({"rating": rating, "feedback": feedback})
            rank = RATINGS.index(rating)
            if rank > best[0]:
                best = (rank, answer.output)
            if rank >= RATINGS.index(self.min_rating):
                break
            message = REFINE.format(rating=rating, feedback=feedback or "(none given)")
        return best[1]


def parse_rating(text: str) -> tuple[str, str]:
    """The rating and feedback of an evaluator's answer (JSON, else the first rating word;
    POOR when it names none)."""
    rating = _json_field(text, "rating")
    feedback = _json_field(text, "feedback")
    if not (isinstance(rating, str) and rating.upper() in RATINGS):
        words = re.findall(r"\b(POOR|FAIR|GOOD|EXCELLENT)\b", text.upper())
        rating = words[0] if words else "POOR"
    return rating.upper(), feedback if isinstance(feedback, str) else text.strip()


def _json_field(text: str, key: str) -> Any:
    match = re.search(r"\{.*\}", text, re.S)
    if not match:
        return None
    try:
        data = json.loads(match.group(0))
    except ValueError:
        return None
    return data.get(key) if isinstance(data, dict) else None
