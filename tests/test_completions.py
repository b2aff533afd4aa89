"""Shell completion: the committed scripts match the command, and completing works."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import MAMBA

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
