"""Shell completion: the committed scripts match the command, and completing works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MAMBA, add_turn, mamba_env

COMPLETIONS = Path(__file__).parents[1] / "completions"


def complete(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MAMBA)], capture_output=True, text=True, env={"PATH": os.environ["PATH"], **env}
    )


@pytest.mark.parametrize(
    ("shell", "name"), [("bash", "mamba.bash"), ("zsh", "_mamba"), ("fish", "mamba.fish")]
)
def test_committed_scripts_are_current(shell, name):
    generated = complete({"_MAMBA_COMPLETE": f"source_{shell}"}).stdout
    assert generated.strip() and (COMPLETIONS / name).read_text() == generated


def test_bash_completes_commands_and_options():
    commands = complete(
        {"_MAMBA_COMPLETE": "complete_bash", "COMP_WORDS": "mamba se", "COMP_CWORD": "1"}
    )
    assert commands.stdout.split() == ["sessions"]
    options = complete(
        {"_MAMBA_COMPLETE": "complete_bash", "COMP_WORDS": "mamba run --out", "COMP_CWORD": "2"}
    )
    assert options.stdout.split() == ["--output-format"]


def completions(home: Path, words: str) -> list[str]:
    """What bash is offered for the last word of `words` (`mamba ... ` ends with a space
    for a new word), in the isolated home."""
    current = len(words.split()) - (0 if words.endswith(" ") else 1)
    done = subprocess.run(
        [str(MAMBA)],
        capture_output=True,
        text=True,
        env=mamba_env(
            home, _MAMBA_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(current)
        ),
        cwd=home / "work",
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        ("mamba run -o ", ["text", "json", "stream-json"]),
        ("mamba run --output-format s", ["stream-json"]),
        ("mamba workflow -o j", ["json"]),
        ("mamba usage --by ", ["day", "week", "month", "session", "model", "user"]),
        ("mamba usage --by m", ["month", "model"]),
        ("mamba usage --format c", ["csv", "ccusage"]),
        ("mamba sessions export x --format ", ["markdown", "json"]),
        ("mamba models list --provider anthro", ["anthropic"]),
    ],
)
def test_bash_completes_option_values(home, words, offered):
    assert completions(home, words) == offered


def test_bash_completes_model_names_without_importing_litellm(home):
    config = home / "config" / "mamba" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[models."gpt-4o-house"]\ninput_price = 1\n')
    bare = completions(home, "mamba run -m gpt-4o")
    assert {"gpt-4o", "gpt-4o-mini", "gpt-4o-house"} <= set(bare)
    assert all(name.startswith("gpt-4o") for name in bare)
    full = completions(home, "mamba chat --model openai/gpt-4o-m")
    assert "openai/gpt-4o-mini" in full and all(n.startswith("openai/gpt-4o-m") for n in full)
    assert "anthropic/claude-sonnet-4-5" in completions(home, "mamba models info anthropic/cl")
    assert "ollama/llama3.1" in completions(home, "mamba usage -m ollama/")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(MAMBA)],
        capture_output=True,
        text=True,
        env=mamba_env(
            home, _MAMBA_COMPLETE="complete_bash", COMP_WORDS="mamba run -m gpt", COMP_CWORD="3"
        ),
    )
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()}
    assert "gpt-4o" in done.stdout.split() and "litellm" not in imported


def test_bash_completes_session_ids(home):
    from mamba_agents.store import Session, SessionStore

    ids = []
    for title in ("one", "two"):
        session = Session(model="openai/gpt-4o", title=title)
        add_turn(session, title)
        SessionStore().save(session)
        ids.append(session.id)
    assert set(completions(home, "mamba run -S ")) == set(ids)
    for words in (
        "mamba run --session {}",
        "mamba sessions show {}",
        "mamba sessions delete {}",
        "mamba sessions export {}",
        "mamba usage --session {}",
    ):
        assert completions(home, words.format(ids[1][:6])) == [ids[1]]
    assert completions(home, "mamba sessions show zz") == []
