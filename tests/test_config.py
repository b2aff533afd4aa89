"""Settings: precedence of every layer, errors that name the file and key, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import mamba_in_process, run_mamba

from mamba_agents.config import AgentSettings, Secret
from mamba_agents.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_are_the_seeds(home):
    settings = AgentSettings()
    assert settings.model_backend.model == "ollama/llama3.2"
    assert settings.model_backend.base_url is None
    assert settings.source_of("model_backend.model") == "default"


def test_precedence_of_every_layer(home):
    key = '[model_backend]\nmodel = "{}"\n'
    write(home / "config" / "mamba" / "config.toml", key.format("from-user-toml"))
    settings = AgentSettings()
    assert settings.model_backend.model == "from-user-toml"
    write(home / "work" / "config.toml", key.format("from-project-toml"))
    assert AgentSettings().model_backend.model == "from-project-toml"
    write(home / "mamba.env", "MAMBA_MODEL_BACKEND__MODEL=from-home-env\n")
    assert AgentSettings().model_backend.model == "from-home-env"
    write(home / "work" / ".env", "MAMBA_MODEL_BACKEND__MODEL=from-project-env\n")
    assert AgentSettings().model_backend.model == "from-project-env"
    settings = AgentSettings(environ={"MAMBA_MODEL_BACKEND__MODEL": "from-environment"})
    assert settings.model_backend.model == "from-environment"
    assert settings.source_of("model_backend.model") == "environment"
    settings = AgentSettings(
        environ={"MAMBA_MODEL_BACKEND__MODEL": "from-environment"},
        overrides={"model_backend": {"model": "from-flag"}},
    )
    assert settings.model_backend.model == "from-flag"


def test_project_env_beats_home_mamba_env(home):
    write(home / "mamba.env", "MAMBA_AGENT__MAX_TURNS=7\nMAMBA_RETRY__RETRY_LEVEL=1\n")
    write(home / "work" / ".env", "MAMBA_AGENT__MAX_TURNS=9\n")
    settings = AgentSettings(trust_project=True)
    assert settings.agent.max_turns == 9
    assert settings.retry.retry_level == 1
    assert settings.source_of("agent.max_turns") == str(home / "work" / ".env")


def test_config_file_loads_that_file_not_project_toml(home, tmp_path):
    write(home / "work" / "config.toml", '[model_backend]\nmodel = "project"\n')
    named = write(tmp_path / "named.toml", '[model_backend]\nmodel = "named"\n')
    assert AgentSettings(config_file=named).model_backend.model == "named"


def test_cli_config_flag_and_missing_file(home, tmp_path):
    named = write(tmp_path / "named.toml", '[model_backend]\nmodel = "openai/named"\n')
    result = run_mamba("--config", str(named), "config", "show", "--json", home=home)
    assert result.json()["settings"]["model_backend"]["model"] == "openai/named"
    missing = run_mamba("--config", str(tmp_path / "nope.toml"), "config", "show", home=home)
    assert missing.code == 2
    assert missing.stderr.strip() == f"mamba: --config {tmp_path / 'nope.toml'}: no such file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[model_backend]\nmodle = "x"\n', "model_backend.modle"),
        ('[agent]\n[modelbackend]\nmodel = "x"\n', "unknown key 'modelbackend'"),
        ("[model_backend\n", "TOML syntax error"),
        ('[agent]\nmax_turns = "lots"\n', "agent.max_turns: expected an integer"),
        ('[model_backend]\ntransport = "carrier-pigeon"\n', "must be one of auto, native, litellm"),
        ("[retry]\nretry_level = 9\n", "retry.retry_level: must be between 1 and 3"),
        ('[models."gpt-4o"]\nprice = 1\n', 'models."gpt-4o".price: unknown key'),
    ],
)
def test_bad_toml_is_a_one_line_error_naming_file_and_key(home, text, message):
    path = write(home / "work" / "config.toml", text)
    with pytest.raises(ConfigError) as caught:
        AgentSettings()
    assert str(path) in str(caught.value) and message in str(caught.value)
    result = mamba_in_process("config", "show", home=home)
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_env_setting_is_reported(home):
    with pytest.raises(ConfigError, match="MAMBA_MODEL_BACKEND__MODLE: unknown setting"):
        AgentSettings(environ={"MAMBA_MODEL_BACKEND__MODLE": "x"})
    write(home / "work" / ".env", "MAMBA_AGENTT__MAX_TURNS=3\n")
    with pytest.raises(ConfigError, match=r"\.env: MAMBA_AGENTT__MAX_TURNS"):
        AgentSettings(environ={})


def test_other_programs_mamba_variables_are_left_alone(home):
    settings = AgentSettings(environ={"MAMBA_ROOT_PREFIX": "/opt/conda", "MAMBA_EXE": "/bin/x"})
    assert settings.model_backend.model == "ollama/llama3.2"


def test_env_values_are_typed(home):
    settings = AgentSettings(
        environ={
            "MAMBA_MODEL_BACKEND__STREAM": "false",
            "MAMBA_MODEL_BACKEND__TEMPERATURE": "0.5",
            "MAMBA_AGENT__MAX_COST": "1.25",
            "MAMBA_MODEL_BACKEND__MAX_TOKENS": "none",
        }
    )
    assert settings.model_backend.stream is False
    assert settings.model_backend.temperature == 0.5
    assert settings.agent.max_cost == 1.25
    assert settings.model_backend.max_tokens is None
    with pytest.raises(ConfigError, match="expected true or false"):
        AgentSettings(environ={"MAMBA_MODEL_BACKEND__STREAM": "maybe"})


def test_api_key_is_a_secret(home):
    settings = AgentSettings(environ={"MAMBA_MODEL_BACKEND__API_KEY": "sk-abcdef123456"})
    assert isinstance(settings.model_backend.api_key, Secret)
    assert settings.model_backend.api_key.get() == "sk-abcdef123456"
    for text in (repr(settings), str(settings.to_dict()), repr(settings.model_backend)):
        assert "sk-abcdef123456" not in text


def test_provider_key_from_dotenv_file(home, server):
    from mamba_agents.backends import api_key_for, resolve_route

    write(home / "work" / ".env", "OPENAI_API_KEY=sk-from-dotenv-file\n")
    settings = AgentSettings(environ={}, trust_project=True)
    assert api_key_for(resolve_route("openai/gpt-4o"), settings) == "sk-from-dotenv-file"
    # Local providers get no key.
    assert api_key_for(resolve_route("ollama/llama3.2"), settings) is None


def test_config_path_lists_the_places(home):
    result = run_mamba("config", "path", home=home)
    assert result.code == 0
    assert str(home / "work" / ".env") in result.stdout
    assert str(home / "config" / "mamba" / "config.toml") in result.stdout


def test_example_config_documents_every_key_and_parses(home):
    from dataclasses import fields

    from mamba_agents.config._schema import SECTIONS

    example = Path(__file__).parents[1] / "config.example.toml"
    settings = AgentSettings(config_file=example, environ={})
    text = example.read_text()
    for section, cls in SECTIONS.items():
        assert f"[{section}]" in text
        for field in fields(cls):
            assert f"{field.name} =" in text, f"{section}.{field.name} undocumented"
    assert settings.model_backend.model == "ollama/llama3.2"


def _failing_run(server, **retry):
    from mamba_agents import Agent

    server.add(*[{"status": 503}] * 10)
    settings = AgentSettings(
        environ={},
        load=False,
        overrides={
            "model_backend": {"model": "openai/gpt-4o", "base_url": server.base_url},
            "retry": {"base_wait": 0.001, **retry},
        },
    )
    with pytest.raises(Exception, match="503"):
        Agent(settings=settings).run_sync("x")
    return len(server.requests)


@pytest.mark.parametrize(("level", "requests"), [(1, 3), (2, 4), (3, 6)])
def test_retry_level_sets_the_retry_count(server, level, requests):
    assert _failing_run(server, retry_level=level) == requests


def test_max_retries_overrides_the_level(server):
    assert _failing_run(server, retry_level=3, max_retries=1) == 2


def test_max_wait_caps_retry_after(server):
    from mamba_agents import Agent
    from mamba_agents.events import RetryEvent

    server.add({"status": 429, "retry_after": "60"}, {"text": "ok"})
    settings = AgentSettings(
        environ={},
        load=False,
        overrides={
            "model_backend": {"model": "openai/gpt-4o", "base_url": server.base_url},
            "retry": {"max_wait": 0.05},
        },
    )

    async def events():
        return [e async for e in Agent(settings=settings).run_stream("x")]

    import asyncio

    waits = [e.wait_seconds for e in asyncio.run(events()) if isinstance(e, RetryEvent)]
    assert waits == [0.05]


def test_session_save_false_saves_nothing(home, server):
    from conftest import session_files

    result = run_mamba(
        "run",
        "x",
        "-m",
        "gpt-4o",
        "--base-url",
        server.base_url,
        home=home,
        env={"MAMBA_SESSION__SAVE": "false"},
    )
    assert result.code == 0 and session_files(home) == []


def test_default_context_window_setting(home):
    from mamba_agents.backends import get_profile

    settings = AgentSettings(environ={"MAMBA_MODEL_BACKEND__DEFAULT_CONTEXT_WINDOW": "32768"})
    assert get_profile("openai/unknown-model-x", settings).context_window == 32768
    assert get_profile("openai/gpt-4o", settings).context_window == 128000


def test_agent_system_prompt_setting_is_sent(home, server):
    write(home / "work" / "config.toml", '[agent]\nsystem_prompt = "From config."\n')
    result = run_mamba("run", "x", "-m", "gpt-4o", "--base-url", server.base_url, home=home)
    assert result.code == 0
    assert server.requests[0]["messages"][0] == {"role": "system", "content": "From config."}


def test_permission_rules_accumulate_across_layers_with_their_sources(home):
    user = write(
        home / "config" / "mamba" / "config.toml", '[permissions]\nallow = ["read_file"]\n'
    )
    project = write(
        home / "work" / "config.toml",
        '[permissions]\nallow = ["write_file(src/**)"]\ndeny = ["delete_file"]\n',
    )
    settings = AgentSettings(
        environ={"MAMBA_PERMISSIONS__ALLOW": '["run_bash(git *)"]'}, trust_project=True
    )
    assert settings.permissions.allow == ["read_file", "write_file(src/**)", "run_bash(git *)"]
    assert settings.item_source("permissions", "allow", "read_file") == str(user)
    assert settings.item_source("permissions", "allow", "write_file(src/**)") == str(project)
    assert settings.item_source("permissions", "allow", "run_bash(git *)") == "environment"
    assert settings.permissions.deny == ["delete_file"]


def test_saved_rules_stick_and_are_not_duplicated(home):
    from mamba_agents.config import save_rule

    path = save_rule("allow", "run_bash(git status)")
    save_rule("allow", "run_bash(git status)")
    save_rule("deny", 'run_bash(echo "quoted")')
    assert path == home / "config" / "mamba" / "permissions.toml"
    settings = AgentSettings(environ={})
    assert settings.permissions.allow == ["run_bash(git status)"]
    assert settings.permissions.deny == ['run_bash(echo "quoted")']
    assert settings.item_source("permissions", "allow", "run_bash(git status)") == str(path)


def test_a_saved_rule_cannot_write_settings_of_its_own(home):
    """A rule comes from a model's tool call: quotes, newlines and brackets in it stay
    inside the rule and never become TOML of their own."""
    from mamba_agents.config import save_rule

    hostile = 'run_bash(x")\n[tools]\nsandbox = "/"\n[permissions]\nallow = ["run_bash")'
    save_rule("allow", hostile)
    settings = AgentSettings(environ={})
    assert settings.permissions.allow == [hostile]
    assert settings.tools.sandbox is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[model_backend]\nrequest_timeout = -1\n", "request_timeout: must be above zero"),
        ("[model_backend]\nrequest_timeout = 0\n", "request_timeout: must be above zero"),
        ("[retry]\nmax_wait = 0\n", "retry.max_wait: must be above zero"),
        ("[retry]\nmax_wait = -3\n", "retry.max_wait: must be above zero"),
        ("[agent]\nmax_cost = 0\n", "agent.max_cost: must be above zero"),
        ("[agent]\ntimeout = -5\n", "agent.timeout: must be above zero"),
        ("[tools]\nbash_timeout = 0\n", "tools.bash_timeout: must be above zero"),
        ("[agent]\nmax_turns = 1.5\n", "agent.max_turns: expected an integer"),
        ('[models."gpt-4o"]\ninput_price = -1\n', "input_price: must not be negative"),
        ('[models."x"]\ncontext_window = 0\n', "context_window: must be above zero"),
    ],
)
def test_impossible_numbers_are_refused_naming_the_key(home, text, message):
    path = write(home / "config" / "mamba" / "config.toml", text)
    result = mamba_in_process("config", "show", home=home)
    assert result.code == 2
    assert result.stderr.count("\n") == 1
    assert str(path) in result.stderr and message in result.stderr


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (["--max-cost", "nan"], "agent.max_cost: expected a number"),
        (["--max-cost", "inf"], "agent.max_cost: expected a number"),
        (["--max-cost", "0"], "agent.max_cost: must be above zero"),
        (["--timeout", "0"], "agent.timeout: must be above zero"),
    ],
)
def test_impossible_flags_are_usage_errors(home, flag, message):
    result = mamba_in_process("run", "hi", *flag, home=home)
    assert result.code == 2
    assert result.stderr.startswith("mamba: ") and message in result.stderr


def test_unreadable_config_files_and_log_folders_are_usage_errors(home):
    path = home / "config" / "mamba" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe[agent]\n")
    result = run_mamba("config", "show", home=home)
    assert result.code == 2 and f"{path}: not UTF-8 text" in result.stderr
    path.write_text(f'[logging]\nfile = "{home}/missing/folder/mamba.log"\n')
    result = run_mamba("run", "hi", "--no-save", home=home)
    assert result.code == 2
    assert "logging.file" in result.stderr and "missing/folder" in result.stderr
    assert "internal error" not in result.stderr


def test_total_timeout_setting_bounds_a_stream_that_never_ends(mamba, server, home):
    server.add({"endless": 0.05})
    result = mamba(
        "run",
        "hi",
        env={"MAMBA_MODEL_BACKEND__TOTAL_TIMEOUT": "0.5", "MAMBA_RETRY__MAX_RETRIES": "0"},
    )
    assert result.code == 1
    assert "total limit of 0.5 s" in result.stderr
