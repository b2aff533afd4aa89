"""The system prompt of `run` and `chat`: a default that says where the model runs, and the
project's instructions (`AGENTS.md`, `MAMBA.md`) from the user's config folder and from the
repository root down to the working directory.

An instruction file is prompt text, nothing more: it cannot change the sandbox, the rules or
where requests go. A file that is a symlink leading out of its folder, or is not a regular
file, is skipped, so a cloned repository cannot make mamba send, say, `~/.ssh/id_rsa` to the
model provider as "instructions".
"""

from __future__ import annotations

import datetime
import platform
import stat
from dataclasses import dataclass
from pathlib import Path

INSTRUCTION_NAMES = ("AGENTS.md", "MAMBA.md")
MAX_INSTRUCTION_BYTES = 64 * 1024

WHERE = """\
You are mamba, an agent that works in the user's terminal. Working directory: {cwd}. \
Operating system: {system}. Today is {date}."""
TOOLS = """\
Your file tools work inside the sandbox folder {sandbox}: relative paths resolve against it, \
and nothing outside it can be read or written. A tool call may be refused by the user's \
permission rules or by the user; when that happens, say what you wanted to do instead of \
trying another way around it.

Read a file before changing it. Change part of a file with edit_file (an exact, unique piece \
of text) and use write_file only for new files or complete rewrites. Use grep_search and \
glob_search to find code rather than listing whole trees, and run_bash for commands such as \
tests and git. Keep answers short and concrete; use Markdown where it helps."""


@dataclass(frozen=True)
class Instructions:
    """One instruction file: where it is and its text (cut at `MAX_INSTRUCTION_BYTES`)."""

    path: Path
    text: str

    def block(self) -> str:
        """The file as it goes into the system prompt."""
        return f"Instructions from {self.path}:\n\n{self.text.strip()}"


def repository_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding `.git`, or None."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def instruction_folders(cwd: Path) -> list[Path]:
    """The folders searched, outermost first: the repository root down to `cwd` (only `cwd`
    outside a repository)."""
    cwd = cwd.resolve()
    root = repository_root(cwd)
    if root is None:
        return [cwd]
    folders = [cwd, *cwd.parents]
    return list(reversed(folders[: folders.index(root) + 1]))


CUT_NOTE = f"[cut: the file is over {MAX_INSTRUCTION_BYTES // 1024} KiB]"


def _read_instructions(path: Path, folder: Path, *, own: bool = False) -> Instructions | None:
    """The file's text, or None when it is missing, not a regular file, or (unless the
    folder is the user's `own`) a link that leads out of `folder`."""
    try:
        real = path.resolve(strict=True)
        if not own and not real.is_relative_to(folder.resolve()):
            return None
        if not stat.S_ISREG(real.stat().st_mode):
            return None
        with real.open("rb") as handle:
            data = handle.read(MAX_INSTRUCTION_BYTES + 1)
    except (OSError, RuntimeError):
        return None
    text = data[:MAX_INSTRUCTION_BYTES].decode("utf-8", errors="replace")
    if len(data) > MAX_INSTRUCTION_BYTES:
        text += f"\n{CUT_NOTE}"
    return Instructions(path, text) if text.strip() else None


def find_instructions(cwd: Path, config_dir: Path) -> list[Instructions]:
    """The user's own file (in the config folder, where a symlink may lead anywhere) first,
    then the project's, outermost first, so the nearest file has the last word."""
    found = []
    for folder in [config_dir, *instruction_folders(cwd)]:
        for name in INSTRUCTION_NAMES:
            own = folder == config_dir  # a dotfiles link there is the user's own doing
            instructions = _read_instructions(folder / name, folder, own=own)
            if instructions is not None:
                found.append(instructions)
    return found


def default_prompt(cwd: Path, sandbox: Path | None) -> str:
    """The built-in system prompt: where the model runs and, unless it has no tools
    (`sandbox` None), how to use them."""
    where = WHERE.format(
        cwd=cwd,
        system=f"{platform.system()} {platform.release()}".strip(),
        date=datetime.date.today().isoformat(),
    )
    return where if sandbox is None else f"{where}\n\n{TOOLS.format(sandbox=sandbox)}"


def compose(
    instructions: list[Instructions], *, cwd: Path, sandbox: Path | None, append: str | None = None
) -> str:
    """The default prompt, the instructions, and `append` (from `--append-system`)."""
    parts = [default_prompt(cwd, sandbox), *(item.block() for item in instructions)]
    if append:
        parts.append(append)
    return "\n\n".join(parts)
