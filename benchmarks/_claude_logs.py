"""The benchmark's requests written as Claude Code logs, and ccusage 20 to read them.

Claude Code keeps one JSONL file per session, `<config>/projects/<project>/<session>.jsonl`,
where `<project>` is the session's working folder with every `/` (and `.`) turned into `-`.
ccusage 20 (a Rust binary shipped in an npm package beside a small node launcher) reads
every `*.jsonl` under `projects/` of each folder named in `CLAUDE_CONFIG_DIR`, keeps the lines
that have `"usage":{` and parse as a usage entry (`timestamp`, `message.usage`, and optional
`sessionId`, `requestId`, `message.id`, `message.model`, `costUSD`, `version`, `isSidechain`),
and counts a request once per `message.id` + `requestId`: so every request here gets its own
pair of ids.

Cost: mamba's report adds up the cost stored with each request (unless `--reprice`), so each
assistant line carries the same cost as `costUSD`, and ccusage runs in its default mode
(`auto`), which takes `costUSD` where a line has it, as mamba does. It still loads its pricing
table (`--offline`: the copy built into the binary, no network), and the models are real
Claude model names it prices, so `--mode calculate` would price every request from its tokens.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

# ccusage 20's launcher runs the binary of the optional package `@ccusage/ccusage-<os>-<cpu>`.
# Pinned: the newest 20.x whose linux-x64 binary package the registry here serves (20.0.26's
# is missing, and npm then skips the optional package without a word).
CCUSAGE_VERSION = "20.0.24"
CLAUDE_CODE_VERSION = "2.0.14"

# Each of the benchmark's models as a Claude model, one for one, so the per-model rows match.
CLAUDE_MODELS = {
    "openai/gpt-4o": "claude-opus-4-1-20250805",
    "openai/gpt-4o-mini": "claude-haiku-4-5-20251001",
    "anthropic/claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "ollama/llama3.2": "claude-3-5-haiku-20241022",
}


@dataclass(frozen=True)
class Request:
    """One model request of the benchmark, as both logs record it."""

    user_id: str
    assistant_id: str
    when: str
    prompt: str
    answer: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float


def project_dir_name(cwd: str) -> str:
    """The folder Claude Code files a working folder's sessions under."""
    return "".join("-" if char in "/." else char for char in cwd)


def session_lines(session_id: str, cwd: str, requests: list[Request]) -> list[str]:
    """A user line and an assistant line per request, as Claude Code writes them."""
    common = {
        "isSidechain": False,
        "userType": "external",
        "cwd": cwd,
        "sessionId": session_id,
        "version": CLAUDE_CODE_VERSION,
        "gitBranch": "main",
    }
    lines, parent = [], None
    for request in requests:
        user_uuid, assistant_uuid = str(request.user_id), str(request.assistant_id)
        lines.append(
            json.dumps(
                {
                    "parentUuid": parent,
                    **common,
                    "type": "user",
                    "message": {"role": "user", "content": request.prompt},
                    "uuid": user_uuid,
                    "timestamp": request.when,
                },
                separators=(",", ":"),
            )
        )
        lines.append(
            json.dumps(
                {
                    "parentUuid": user_uuid,
                    **common,
                    "message": {
                        "id": f"msg_{assistant_uuid.replace('-', '')}",
                        "type": "message",
                        "role": "assistant",
                        "model": CLAUDE_MODELS[request.model],
                        "content": [{"type": "text", "text": request.answer}],
                        "stop_reason": "end_turn",
                        "stop_sequence": None,
                        "usage": {
                            "input_tokens": request.input_tokens,
                            "cache_creation_input_tokens": request.cache_write_tokens,
                            "cache_read_input_tokens": request.cache_read_tokens,
                            "output_tokens": request.output_tokens,
                            "service_tier": "standard",
                        },
                    },
                    "requestId": f"req_{user_uuid.replace('-', '')}",
                    "type": "assistant",
                    "uuid": assistant_uuid,
                    "timestamp": request.when,
                    "costUSD": request.cost_usd,
                    "durationMs": 800,
                },
                separators=(",", ":"),
            )
        )
        parent = assistant_uuid
    return lines


def write_session(config: Path, session_id: str, cwd: str, requests: list[Request]) -> None:
    """`<config>/projects/<project>/<session>.jsonl`."""
    folder = config / "projects" / project_dir_name(cwd)
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join(session_lines(session_id, cwd, requests)) + "\n"
    (folder / f"{session_id}.jsonl").write_text(text)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mamba-bench" / f"ccusage-{CCUSAGE_VERSION}"


def install_ccusage(prefix: Path | None = None) -> Path:
    """ccusage under `prefix` (installed with npm the first time); returns the prefix."""
    prefix = prefix or cache_dir()
    if native_binary(prefix) is None:
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(prefix),
                "--include=optional",
                "--no-audit",
                "--no-fund",
                f"ccusage@{CCUSAGE_VERSION}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if native_binary(prefix) is None:
            raise SystemExit(f"ccusage@{CCUSAGE_VERSION} installed without its native binary")
    return prefix


def launcher(prefix: Path) -> list[str]:
    """`ccusage` as npm installs it: node runs the package's bin, which runs the binary."""
    package = json.loads((prefix / "node_modules" / "ccusage" / "package.json").read_text())
    bin_path = package["bin"]["ccusage"] if isinstance(package["bin"], dict) else package["bin"]
    return ["node", str(prefix / "node_modules" / "ccusage" / bin_path)]


def native_binary(prefix: Path) -> str | None:
    """The binary the launcher runs, if installed."""
    found = sorted((prefix / "node_modules" / "@ccusage").glob("ccusage-*/bin/ccusage"))
    if not found or not (prefix / "node_modules" / "ccusage" / "package.json").exists():
        return None
    found[0].chmod(0o755)
    return str(found[0])


def ccusage_env(home: Path, config: Path) -> dict[str, str]:
    """An environment where ccusage finds these logs and no other agent's."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("XDG_", "CLAUDE_", "CODEX_", "OPENCODE_", "AMP_"))
    }
    env.update(HOME=str(home), CLAUDE_CONFIG_DIR=str(config), NO_COLOR="1")
    return env
