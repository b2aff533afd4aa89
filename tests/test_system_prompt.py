"""The system prompt of `run` and `chat`: the default, AGENTS.md/MAMBA.md files, --system,
--append-system and /memory, checked in what the model server receives."""

from __future__ import annotations

import datetime
import platform
from pathlib import Path

from conftest import MAMBA, mamba_env
from terminal import Terminal


def system_sent(server) -> str:
    messages = server.requests[-1]["messages"]
    return messages[0]["content"] if messages[0]["role"] == "system" else ""


def repository(home: Path) -> Path:
    """`work/` as a repository with a nested package folder."""
    (home / "work" / ".git").mkdir()
    (home / "work" / "pkg" / "sub").mkdir(parents=True)
    return home / "work"


def test_the_default_prompt_says_where_the_model_runs(mamba, server, home):
    assert mamba("run", "hi").code == 0
    prompt = system_sent(server)
    assert f"Working directory: {home / 'work'}" in prompt
    assert platform.system() in prompt and datetime.date.today().isoformat() in prompt
    assert f"sandbox folder {home / 'work'}" in prompt and "edit_file" in prompt
    assert mamba("run", "hi", "--no-tools").code == 0
    assert "sandbox" not in system_sent(server)  # no tools, nothing said about them


def test_instruction_files_from_the_user_and_the_repository_root_down(mamba, server, home):
    root = repository(home)
    (home / "config" / "mamba").mkdir(parents=True)
    (home / "config" / "mamba" / "AGENTS.md").write_text("USER: answer in English.\n")
    (root / "AGENTS.md").write_text("ROOT: run pytest before committing.\n")
    (root / "pkg" / "MAMBA.md").write_text("PKG: this package is typed.\n")
    (root / "pkg" / "sub" / "AGENTS.md").write_text("SUB: not on the way up from pkg.\n")
    (home / "AGENTS.md").write_text("ABOVE: outside the repository.\n")
    assert mamba("run", "hi", cwd=root / "pkg").code == 0
    prompt = system_sent(server)
    assert prompt.index("USER:") < prompt.index("ROOT:") < prompt.index("PKG:")
    assert f"Instructions from {root / 'AGENTS.md'}:" in prompt
    assert "SUB:" not in prompt and "ABOVE:" not in prompt


def test_outside_a_repository_only_the_working_directory_counts(mamba, server, home):
    (home / "AGENTS.md").write_text("PARENT: not mine.\n")
    (home / "work" / "AGENTS.md").write_text("HERE: mine.\n")
    assert mamba("run", "hi").code == 0
    prompt = system_sent(server)
    assert "HERE: mine." in prompt and "PARENT" not in prompt


def test_an_instruction_file_linking_out_of_the_project_is_not_sent(mamba, server, home):
    root = repository(home)
    secret = home / "id_rsa"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY----- not for the model\n")
    (root / "AGENTS.md").symlink_to(secret)
    (root / "MAMBA.md").mkdir()  # not a file either
    result = mamba("run", "hi")
    assert result.code == 0, result.stderr
    assert "PRIVATE KEY" not in str(server.requests[-1])


def test_a_huge_instruction_file_is_cut(mamba, server, home):
    (home / "work" / "AGENTS.md").write_text("x" * 200_000)
    assert mamba("run", "hi").code == 0
    prompt = system_sent(server)
    assert "[cut: the file is over 64 KiB]" in prompt and len(prompt) < 70_000


def test_system_replaces_everything_and_append_system_adds(mamba, server, home):
    (home / "work" / "AGENTS.md").write_text("PROJECT RULES\n")
    assert mamba("run", "hi", "--system", "Only this.").code == 0
    assert system_sent(server) == "Only this."
    assert mamba("run", "hi", "--append-system", "Answer in French.").code == 0
    prompt = system_sent(server)
    assert prompt.startswith("You are mamba") and prompt.endswith("\n\nAnswer in French.")
    assert "PROJECT RULES" in prompt
    result = mamba("run", "hi", "-s", "Only this.", "--append-system", "And this.")
    assert result.code == 0
    assert system_sent(server) == "Only this.\n\nAnd this."


def test_a_resumed_session_keeps_its_prompt(mamba, server, home):
    assert mamba("run", "first", "-s", "Session prompt.").code == 0
    (home / "work" / "AGENTS.md").write_text("NEW RULES\n")
    assert mamba("run", "-c", "second").code == 0
    assert system_sent(server) == "Session prompt."


def test_memory_shows_which_files_are_in_the_prompt(home, server):
    root = repository(home)
    (root / "AGENTS.md").write_text("one line\n")
    args = [str(MAMBA), "chat", "-m", "openai/gpt-4o", "--base-url", server.base_url]
    env = mamba_env(home, TERM="xterm-256color")
    term = Terminal(args, env, str(root))
    try:
        term.wait_for("/help for commands")
        term.enter("/memory")
        term.wait_for(rf"loaded\s+{root / 'AGENTS.md'} \(1 line\)")
    finally:
        term.close()
    term = Terminal([*args, "--system", "Mine."], env, str(root))
    try:
        term.wait_for("/help for commands")
        term.enter("/memory")
        term.wait_for(rf"not loaded\s+{root / 'AGENTS.md'}")
        term.wait_for(r"--system or /system replaces")
    finally:
        term.close()


def test_the_users_own_file_may_be_a_dotfiles_link(mamba, server, home):
    dotfiles = home / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "AGENTS.md").write_text("MINE: from my dotfiles.\n")
    (home / "config" / "mamba").mkdir(parents=True)
    (home / "config" / "mamba" / "AGENTS.md").symlink_to(dotfiles / "AGENTS.md")
    (home / "work" / "AGENTS.md").symlink_to(dotfiles / "AGENTS.md")  # a project's may not
    assert mamba("run", "hi").code == 0
    assert system_sent(server).count("MINE: from my dotfiles.") == 1
