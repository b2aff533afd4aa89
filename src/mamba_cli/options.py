"""Options shared by the commands that run the agent (`run`, `chat`): declared once,
read back as one typed `AgentFlags`."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from mamba_cli.completion import choices, model_names, session_ids
from mamba_cli.tool_access import ToolAccess

Model = Annotated[
    str | None,
    typer.Option("--model", "-m", help="provider/model", autocompletion=model_names),
]
BaseUrl = Annotated[str | None, typer.Option("--base-url", help="An OpenAI-compatible endpoint.")]
System = Annotated[
    str | None,
    typer.Option(
        "--system", "-s", help="The whole system prompt (no default, no AGENTS.md files)."
    ),
]
AppendSystem = Annotated[
    str | None,
    typer.Option("--append-system", help="Text added to the end of the system prompt."),
]
SessionRef = Annotated[
    str | None,
    typer.Option(
        "--session",
        "-S",
        help="Continue a session (id, unique prefix or state id; an older state forks).",
        autocompletion=session_ids,
    ),
]
Continue = Annotated[bool, typer.Option("--continue", "-c", help="Continue the latest session.")]
NoSave = Annotated[bool, typer.Option("--no-save", help="Do not save a session.")]
MaxTurns = Annotated[
    int | None, typer.Option("--max-turns", min=1, help="Most model requests per prompt.")
]
MaxCost = Annotated[
    float | None, typer.Option("--max-cost", min=0.0, help="Stop once a prompt cost this much USD.")
]
Timeout = Annotated[float | None, typer.Option("--timeout", min=0.0, help="Stop after SECONDS.")]
Temperature = Annotated[float | None, typer.Option("--temperature")]
MaxTokens = Annotated[
    int | None, typer.Option("--max-tokens", min=1, help="Most output tokens per request.")
]
Allow = Annotated[
    list[str] | None,
    typer.Option(
        "--allow", help="Allow a tool or TOOL(PATTERN), e.g. 'run_bash(git *)'. Repeatable."
    ),
]
Deny = Annotated[
    list[str] | None, typer.Option("--deny", help="Refuse a tool or TOOL(PATTERN). Repeatable.")
]
AllowAll = Annotated[
    bool, typer.Option("--allow-all", help="Allow every tool call no deny rule refuses.")
]
NoTools = Annotated[bool, typer.Option("--no-tools", help="Offer the model no tools.")]
Sandbox = Annotated[
    str | None, typer.Option("--sandbox", help="Folder the tools may touch (default: here).")
]
McpConfig = Annotated[
    list[str] | None,
    typer.Option(
        "--mcp-config",
        metavar="FILE",
        help='MCP servers from a JSON file ({"mcpServers": {...}}, as .mcp.json). Repeatable.',
    ),
]
LogRequests = Annotated[
    str | None,
    typer.Option(
        "--log-requests",
        metavar="FILE",
        help="Append every raw model request and response to FILE (JSON lines, keys masked).",
    ),
]

OUTPUT_FORMATS = ("text", "json", "stream-json")
OutputFormat = Annotated[
    str,
    typer.Option(
        "--output-format",
        "-o",
        help="text, json or stream-json.",
        autocompletion=choices(*OUTPUT_FORMATS),
    ),
]


def check_output_format(value: str) -> None:
    """`--output-format` must be one of the three formats."""
    from mamba_agents.errors import ConfigError

    if value not in OUTPUT_FORMATS:
        raise ConfigError(f"--output-format: must be text, json or stream-json, not {value!r}")


@dataclasses.dataclass(frozen=True)
class AgentFlags:
    """What the shared flags of `run` and `chat` say, parsed and typed."""

    model: str | None = None
    base_url: str | None = None
    system: str | None = None
    append_system: str | None = None
    session: str | None = None
    continue_latest: bool = False
    no_save: bool = False
    max_turns: int | None = None
    max_cost: float | None = None
    timeout: float | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    allow_all: bool = False
    no_tools: bool = False
    sandbox: str | None = None
    mcp_config: tuple[str, ...] = ()
    log_requests: str | None = None


# Each field's option, in the order `--help` lists them. The annotations are objects, not
# strings, so Typer reads them without evaluating anything.
_OPTIONS: dict[str, Any] = {
    "model": Model,
    "base_url": BaseUrl,
    "system": System,
    "append_system": AppendSystem,
    "session": SessionRef,
    "continue_latest": Continue,
    "no_save": NoSave,
    "max_turns": MaxTurns,
    "max_cost": MaxCost,
    "timeout": Timeout,
    "temperature": Temperature,
    "max_tokens": MaxTokens,
    "allow": Allow,
    "deny": Deny,
    "allow_all": AllowAll,
    "no_tools": NoTools,
    "sandbox": Sandbox,
    "mcp_config": McpConfig,
    "log_requests": LogRequests,
}
_DEFAULTS = {field.name: field.default for field in dataclasses.fields(AgentFlags)}
_LISTS = ("allow", "deny", "mcp_config")

Command = TypeVar("Command", bound=Callable[..., Any])


def agent_command(*, own_options_after: str | None = None) -> Callable[[Command], Command]:
    """Give a Typer command the shared agent options; it receives them as `flags`.

    The command declares `flags: AgentFlags` where the shared options go in `--help`; its
    parameters after `flags` (its own options) are listed after the shared option named
    `own_options_after` (after all of them when it is None).
    """
    if own_options_after is not None and own_options_after not in _OPTIONS:
        raise ValueError(f"no shared option {own_options_after!r}")

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        names = list(signature.parameters)
        if "flags" not in names:
            raise TypeError(f"{command.__name__} has no 'flags' parameter")
        clash = set(names) & set(_OPTIONS)
        if clash:
            raise TypeError(f"{command.__name__} declares shared options {sorted(clash)}")
        at = names.index("flags")
        before = [signature.parameters[n] for n in names[:at]]
        own = [signature.parameters[n] for n in names[at + 1 :]]
        shared = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=annotation,
                default=None if name in _LISTS else _DEFAULTS[name],
            )
            for name, annotation in _OPTIONS.items()
        ]
        split = (
            len(shared)
            if own_options_after is None
            else list(_OPTIONS).index(own_options_after) + 1
        )
        ordered = [*before, *shared[:split], *own, *shared[split:]]
        parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in ordered]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name, _DEFAULTS[name]) for name in _OPTIONS}
            for name in _LISTS:
                values[name] = tuple(values[name] or ())
            return command(**kwargs, flags=AgentFlags(**values))

        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        if signature.return_annotation is not inspect.Signature.empty:
            wrapper.__annotations__["return"] = signature.return_annotation
        return wrapper  # type: ignore[return-value]

    return decorate


def agent_overrides(flags: AgentFlags) -> dict[str, dict[str, Any]]:
    """Settings overrides (the highest layer) from the parsed flags."""
    return {
        "model_backend": {
            "model": flags.model,
            "base_url": flags.base_url,
            "temperature": flags.temperature,
            "max_tokens": flags.max_tokens,
        },
        "agent": {
            "system_prompt": flags.system,
            "max_turns": flags.max_turns,
            "max_cost": flags.max_cost,
            "timeout": flags.timeout,
        },
        "observability": {"log_requests": flags.log_requests},
    }


@dataclasses.dataclass(frozen=True)
class AgentParts:
    """What the flags give every agent of a command: settings, the store sessions are
    looked up in, the store they are saved in (None: do not save), the tools with their
    permission policy, and the MCP servers' manager."""

    settings: Any
    sessions: Any
    store: Any
    tools: list[Any]
    policy: Any
    mcp: Any


def agent_parts(
    ctx: typer.Context, flags: AgentFlags, ask_trust: Any = None, ask_server: Any = None
) -> AgentParts:
    """The parts the flags describe. `ask_trust` is asked whether to trust the folder when
    its files want more than an untrusted folder gets; `ask_server` whether a server that
    came with the folder may start. `ctx` carries the global options (`--config`,
    `--verbose`)."""
    from mamba_agents.store import open_store
    from mamba_agents.tools import scrub_own_environment
    from mamba_cli.mcp_access import manager_for, servers_to_start
    from mamba_cli.settings import load_settings

    settings = load_settings(ctx, agent_overrides(flags), ask_trust)
    if settings.observability.log_requests:  # a file it cannot write: say so before starting
        from mamba_agents.observability import RequestLog

        RequestLog(settings.observability.log_requests)
    sessions = open_store(settings)  # before the scrub: PGPASSWORD may hold its password
    # Keys stay in this process's memory, not in the environment block tools could read.
    scrub_own_environment()
    save = not flags.no_save and settings.session.save
    access = ToolAccess(
        list(flags.allow), list(flags.deny), flags.allow_all, flags.no_tools, flags.sandbox
    )
    tools, policy = access.build(settings)
    servers, held = (
        ([], []) if flags.no_tools else servers_to_start(settings, flags.mcp_config, ask_server)
    )
    store = sessions if save else None
    return AgentParts(
        settings, sessions, store, tools, policy, manager_for(settings, servers, held)
    )


def system_prompt(parts: AgentParts, flags: AgentFlags, session: Any) -> str:
    """The system prompt the flags ask for ("" leaves it to the session or the settings).

    `--system` or `agent.system_prompt` is the whole prompt. Without either, the default
    prompt and the instruction files become the settings' prompt, which a resumed session's
    own prompt still beats. `--append-system` adds to whichever prompt is in force."""
    from pathlib import Path

    from mamba_agents.paths import config_home
    from mamba_agents.tools import sandbox_from_settings
    from mamba_cli.system_prompt import compose, find_instructions

    settings = parts.settings
    if not settings.agent.system_prompt:
        cwd = Path.cwd()
        sandbox = sandbox_from_settings(settings, flags.sandbox).base if parts.tools else None
        instructions = find_instructions(cwd, config_home())
        settings.agent.system_prompt = compose(instructions, cwd=cwd, sandbox=sandbox)
    if flags.append_system:
        resumed = session.system_prompt() if session is not None else None
        base = flags.system or resumed or settings.agent.system_prompt
        return f"{base}\n\n{flags.append_system}"
    return flags.system or ""


def agent_from_flags(
    ctx: typer.Context, flags: AgentFlags, ask_trust: Any = None, ask_server: Any = None
) -> Any:
    """The Agent a command's flags describe (see `agent_parts`), continuing the session
    they name (or a fork of it)."""
    from mamba_agents.engine import Agent
    from mamba_cli.session_ref import pick_session

    parts = agent_parts(ctx, flags, ask_trust, ask_server)
    session = pick_session(parts.sessions, continue_latest=flags.continue_latest, ref=flags.session)
    agent = Agent(
        settings=parts.settings,
        session=session,
        store=parts.store,
        system_prompt=system_prompt(parts, flags, session),
        tools=parts.tools,
        permissions=parts.policy,
        mcp=parts.mcp,
    )
    warn_if_unpriced(agent, parts.settings.agent.max_cost)
    return agent


def warn_if_unpriced(agent: Any, max_cost: float | None) -> None:
    """A cost limit on a model without known prices counts only what the provider
    reports: say so rather than let the limit look like it holds."""
    from mamba_cli import output

    if max_cost is not None and not agent.profile.priced:
        output.warn(
            f"cost limit ${max_cost:g}: no prices are known for {agent.model}, so only costs the "
            "provider reports count toward it; set input_price and output_price under "
            f'[models."{agent.model}"]'
        )
