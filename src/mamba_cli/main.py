"""Entry point: answers `--version` without loading anything, maps errors to exit codes."""

from __future__ import annotations

import sys
from typing import NoReturn


def main(argv: list[str] | None = None) -> None:
    """Run the `mamba` command and exit with the documented code."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from mamba_agents import __version__

        print(f"mamba {__version__}")
        sys.exit(0)
    skip_unused_imports()
    exit_now(run_app(args))


def exit_now(code: int) -> NoReturn:
    """Exit without the interpreter's teardown, which frees every module's objects one by
    one (0.2 s once the MCP SDK is loaded) for nothing: stdout, stderr and the log handlers
    are flushed first, and no other work is pending (session files are written and synced
    before a command returns). Spans waiting for export are sent first."""
    import contextlib
    import os

    if "mamba_agents.observability" in sys.modules:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C while the last spans go
            sys.modules["mamba_agents.observability"].stop_export()
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def skip_unused_imports() -> None:
    """Keep optional imports the command never uses off start-up. httpx imports its own
    command-line tool (click, rich, pygments: ~50 ms) and httpcore its HTTP/2 support (h2:
    ~16 ms) whenever those are installed; both fall back quietly when the import fails."""
    import types

    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", types.ModuleType("httpx._main"))
    if "httpcore" not in sys.modules:
        sys.modules.setdefault("h2", None)


def _click_exceptions():
    """Typer's click exceptions (recent Typer vendors click; older ones use it directly)."""
    try:
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


# The global options that take no value, accepted after the command too (`mamba run -v`).
GLOBAL_FLAGS = frozenset({"-v", "--verbose", "-q", "--quiet", "--no-color"})


def global_flags_first(args: list[str], app: object) -> list[str]:
    """`args` with the global flags given after the command moved before it, where Click
    looks for them. A token that is the value of the command's own option (`--system -q`)
    or that comes after `--` stays where it is."""
    if not any(a in GLOBAL_FLAGS for a in args[1:]):
        return args
    import typer

    group = typer.main.get_command(app)
    command: object = group
    moved: list[str] = []
    kept: list[str] = []
    takes_value: set[str] = {"--config"}
    index = 0
    while index < len(args):
        token = args[index]
        if token == "--":
            kept.extend(args[index:])
            break
        if token in takes_value:
            kept.extend(args[index : index + 2])
            index += 2
            continue
        subcommands = getattr(command, "commands", None)
        if subcommands and token in subcommands:
            command = subcommands[token]
            takes_value = {
                name
                for param in getattr(command, "params", ())
                if getattr(param, "param_type_name", "") == "option" and not param.is_flag
                for name in param.opts
            }
        elif token in GLOBAL_FLAGS and command is not group:
            moved.append(token)
            index += 1
            continue
        kept.append(token)
        index += 1
    return [*moved, *kept]


def run_app(args: list[str]) -> int:
    import typer

    from mamba_agents.errors import AgentError, ExitCode
    from mamba_cli.app import app
    from mamba_cli.output import error_line

    args = global_flags_first(args, app)
    click = _click_exceptions()
    verbose = any(a in ("-v", "--verbose") for a in args)
    try:
        result = app(args=args, prog_name="mamba", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return ExitCode.INTERRUPTED
    except click.ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `mamba` alone: the help is the answer
            exc.show()
            return ExitCode.USAGE
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        error_line(exc.format_message() + hint)
        return ExitCode.USAGE
    except AgentError as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        error_line(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        error_line("interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        error_line(f"internal error: {type(exc).__name__}: {exc} (run with --verbose for details)")
        return ExitCode.RUNTIME
    return result if isinstance(result, int) else ExitCode.OK
