"""The session recorder: keeps each finished run as a new state of the session.

It reads the run's events and acts on the last one, the `RunResult`: a run that failed
leaves the session as it was; any other adds a state (marked with its status when a limit,
a timeout or an interruption ended it) and saves the session when there is a store.
A run compacted while it ran was saved up to that point (`save_progress`); its final
state adds only the messages after it.
"""

from __future__ import annotations

import dataclasses

from mamba_agents.errors import SessionError
from mamba_agents.events import ErrorEvent, Event, RunResult
from mamba_agents.messages import Message
from mamba_agents.store import Session, SessionStore


class SessionRecorder:
    """Records one run into `session`, continuing from the state `parent`."""

    def __init__(
        self,
        session: Session,
        store: SessionStore | None,
        *,
        parent: str | None,
        system: str | None,
        model: str,
        user: str | None = None,
    ):
        self.session = session
        self.store = store
        self.parent = parent
        self.system = system
        self.model = model
        self.user = user
        self.recorded = 0  # messages of the run already saved by save_progress

    def save_progress(self, new_messages: list[Message]) -> None:
        """Save the run's complete messages so far as a state (a compaction is about to
        follow it); the run's final state will continue from whatever is head then."""
        pending = new_messages[self.recorded :]
        if pending:
            self._add(pending, None)
            self.recorded = len(new_messages)

    def _add(self, new_messages: list[Message], status: str | None) -> None:
        self.session.add_state(
            parent_id=self.parent,
            new_messages=new_messages,
            system=self.system,
            model=self.model,
            status=status,
            user=self.user,
        )
        self.parent = self.session.head
        if self.store is not None:
            self.store.save(self.session)

    def handle(self, event: Event) -> list[Event]:
        """The events to pass on: a recorded result names its session and state; one that
        could not be saved becomes an error."""
        if not isinstance(event, RunResult):
            return [event]
        if event.status == "error":
            return [self._named(event)]
        try:
            status = None if event.status == "success" else event.status
            self._add(event.new_messages[self.recorded :], status)
        except SessionError as exc:
            failed = dataclasses.replace(event, status="error", error=str(exc), exception=exc)
            return [ErrorEvent(type(exc).__name__, str(exc)), self._named(failed)]
        return [self._named(event)]

    def _named(self, result: RunResult) -> RunResult:
        """The result with the saved session and its head (None when nothing is saved:
        no store, or a new session whose first run failed)."""
        if self.store is None or not self.session.states:
            return result
        return dataclasses.replace(result, session_id=self.session.id, state_id=self.session.head)
