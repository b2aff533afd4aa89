"""The tool options shared by commands that run the agent (`--allow`, `--sandbox`, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ToolAccess:
    """What the flags say about tools: extra rules, allow-all, no tools, the sandbox."""

    allow: list[str]
    deny: list[str]
    allow_all: bool = False
    no_tools: bool = False
    sandbox: str | None = None

    def build(self, settings: Any) -> tuple[list[Any], Any]:
        """(tools, permission policy) for the agent. Path rules are read inside the
        sandbox, and what reading rules deny is left out of searches and listings."""
        import dataclasses

        from mamba_agents.tools import (
            policy_from_settings,
            sandbox_from_settings,
            tools_from_settings,
        )

        rules = {"allow": self.allow, "deny": self.deny, "allow_all": self.allow_all}
        if self.no_tools:
            return [], policy_from_settings(settings, **rules)
        security = sandbox_from_settings(settings, self.sandbox)
        policy = policy_from_settings(settings, **rules, base=security.base)
        if policy.hides_anything:
            security = dataclasses.replace(security, hidden=policy.hides)
        return tools_from_settings(settings, security), policy
