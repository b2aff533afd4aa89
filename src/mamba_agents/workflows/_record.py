"""A workflow run as a session: the task, each step's output linked to the agent session
that produced it, and how the run ended. Saved after every step, so a run stopped half-way
keeps a valid session of its completed steps.

The step messages carry no usage: each request is counted once, in the agent's own
session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mamba_agents.messages import Message
from mamba_agents.store import Session

if TYPE_CHECKING:
    from mamba_agents.workflows._base import Workflow, WorkflowResult, WorkflowStep


class WorkflowRecord:
    """The session of one workflow run, written as the run goes."""

    def __init__(self, workflow: Workflow[Any, Any, Any], session: Session):
        self.workflow = workflow
        self.session = session
        self.last_output: str | None = None

    @classmethod
    def start(cls, workflow: Workflow[Any, Any, Any], prompt: str) -> WorkflowRecord:
        record = cls(workflow, Session())
        record._add(
            [Message.user(prompt)], {"workflow": workflow.name, "pattern": workflow.pattern}
        )
        return record

    def add_step(self, step: WorkflowStep) -> None:
        message = Message(
            role="assistant",
            content=step.output,
            name=_wire_name(step.agent),
            status="workflow_step",
        )
        self.last_output = step.output
        self._add([message], step.to_dict())

    def finish(self, result: WorkflowResult[Any, Any]) -> None:
        output = result.output if isinstance(result.output, str) else None
        messages = []
        if output and output != self.last_output:
            messages.append(Message(role="assistant", content=output, status="workflow_result"))
        receipt = {
            "workflow": result.workflow,
            "status": result.termination_reason,
            "success": result.success,
            "total_steps": result.total_steps,
            "cost_usd": result.cost_usd,
            "error": result.error,
        }
        self._add(messages, receipt)

    def _add(self, messages: list[Message], receipt: dict[str, Any]) -> None:
        self.session.add_state(
            parent_id=self.session.head, new_messages=messages, kind="workflow", receipt=receipt
        )
        assert self.workflow.store is not None
        self.workflow.store.save(self.session)


def _wire_name(agent: str | None) -> str | None:
    """An agent's name as the chat format's `name` field allows it (letters, digits, _ -)."""
    if not agent:
        return None
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in agent)
    return cleaned[:64] or None
