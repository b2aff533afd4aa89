"""Choosing the session a command continues: latest, by reference, or a fork."""

from __future__ import annotations

from typing import Any

from mamba_cli import output


def pick_session(store: Any, *, continue_latest: bool, ref: str | None) -> Any:
    """The session to continue (None for a new one). An older state forks a new session."""
    from mamba_agents.errors import ConfigError

    if ref is not None and not ref.strip():
        raise ConfigError("--session: empty; give a session id, a unique prefix or a state id")
    if continue_latest and ref:
        raise ConfigError("--continue and --session cannot be used together")
    if continue_latest:
        session, skipped = store.latest()
        for warning in skipped:
            output.warn(f"skipped {warning}")
        if session is None:
            raise ConfigError(f"--continue: no saved session in {store.root}")
        if skipped:
            output.warn(f"continuing the newest readable session, {session.id}")
        return session
    if ref:
        found = store.resolve(ref)
        if found.is_head:
            return found.session
        fork = found.session.fork(found.state_id)
        output.progress(
            f"forked session {fork.id} from state {found.state_id} of {found.session.id}"
        )
        return fork
    return None
