"""`mamba models list`: the known models, filtered, as a table, tab-separated lines or JSON."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from conftest import run_mamba

COLUMNS = ("model", "provider", "context", "input", "output", "tools")


def listed(home: Path, *args: str) -> list[dict[str, str]]:
    result = run_mamba("models", "list", *args, home=home)
    assert result.code == 0, result.stderr
    return [
        dict(zip(COLUMNS, line.split("\t"), strict=True)) for line in result.stdout.splitlines()
    ]


def user_config(home: Path, text: str) -> None:
    path = home / "config" / "mamba" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_provider_and_a_text_narrow_the_list(home):
    rows = listed(home, "--provider", "openai", "gpt-4o-mini")
    assert rows and all(r["provider"] == "openai" and "gpt-4o-mini" in r["model"] for r in rows)
    assert [r["model"] for r in rows] == sorted(r["model"] for r in rows)
    assert {
        "model": "openai/gpt-4o-mini",
        "provider": "openai",
        "context": "128,000",
        "input": "$0.15",
        "output": "$0.6",
        "tools": "yes",
    } in rows
    other_providers = listed(home, "gpt-4o-mini")
    assert {r["provider"] for r in other_providers} > {"openai", "azure"}


def test_a_glob_matches_the_whole_string_or_the_name(home):
    by_name = listed(home, "--provider", "anthropic", "CLAUDE-*-4-5")
    assert by_name and all(fnmatch.fnmatch(r["model"], "anthropic/claude-*-4-5") for r in by_name)
    glob = "anthropic/claude-sonnet-4-?"
    names = {r["model"] for r in listed(home, glob)}
    assert "anthropic/claude-sonnet-4-5" in names  # the whole string matches
    assert any(not n.startswith("anthropic/") for n in names)  # a reseller's name matches
    assert all(
        fnmatch.fnmatch(n, glob) or fnmatch.fnmatch(n.partition("/")[2], glob) for n in names
    )


def test_configured_models_are_listed_with_their_overrides(home):
    user_config(
        home,
        '[models."house-model"]\ninput_price = 1\noutput_price = 2.5\ncontext_window = 4096\n'
        '[models."gpt-4o"]\ninput_price = 9\n',
    )
    assert listed(home, "house") == [
        {
            "model": "openai/house-model",
            "provider": "openai",
            "context": "4,096",
            "input": "$1",
            "output": "$2.5",
            "tools": "yes",
        }
    ]
    [gpt4o] = [
        r for r in listed(home, "--provider", "openai", "gpt-4o") if r["model"] == "openai/gpt-4o"
    ]
    assert gpt4o["input"] == "$9" and gpt4o["output"] == "$10"


def test_json_gives_what_models_info_gives(home):
    data = run_mamba("models", "list", "--json", "-p", "openai", "gpt-4o-mini", home=home).json()
    by_name = {item["model"]: item for item in data}
    info = run_mamba("models", "info", "gpt-4o-mini", "--json", home=home).json()
    assert by_name["openai/gpt-4o-mini"] == info
    local = run_mamba("models", "list", "--json", "--provider", "ollama", home=home).json()
    assert local and all(m["source"] == "local" and m["transport"] == "native" for m in local)
    assert all(m["price_per_million"]["input"] == 0 for m in local)


def test_an_unknown_provider_is_a_usage_error(home):
    result = run_mamba("models", "list", "--provider", "opnai", home=home)
    assert result.code == 2 and result.stdout == ""
    assert result.stderr == (
        "mamba: --provider opnai: no known model has this provider (did you mean openai?)\n"
    )


def test_no_match_prints_nothing(home):
    result = run_mamba("models", "list", "no-such-model-anywhere", home=home)
    assert result.code == 0 and result.stdout == "" and "no model matches" in result.stderr
    assert run_mamba("models", "list", "--json", "no-such-model", home=home).json() == []


def test_every_listed_model_has_the_facts_get_profile_gives(home):
    from mamba_agents.backends import get_profile, known_models

    profiles = known_models()
    assert len({p.name for p in profiles}) == len(profiles) > 1000
    # A sample across the table, and the entries whose names it spells differently.
    sample = (
        profiles[::40]
        + [p for p in profiles if p.name.startswith(("vertex_ai/", "bedrock/")) and p.table_key][
            ::10
        ]
    )
    for profile in sample:
        assert get_profile(profile.name) == profile
