"""Prices, cost sources and token counts; the seed's cost defects must not exist here."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mamba_agents.backends import get_profile
from mamba_agents.config import AgentSettings
from mamba_agents.tokens import CostEstimator, TokenCounter, UsageTracker


def test_gpt_4o_mini_is_not_priced_as_gpt_4o_or_gpt_4():
    estimator = CostEstimator()
    mini = estimator.estimate(1_000_000, 1_000_000, "gpt-4o-mini").total_cost
    full = estimator.estimate(1_000_000, 1_000_000, "gpt-4o").total_cost
    assert mini == pytest.approx(0.15 + 0.60)
    assert full == pytest.approx(2.5 + 10.0)


def test_separate_input_and_output_prices():
    breakdown = CostEstimator().estimate(input_tokens=1000, output_tokens=500, model="gpt-4o")
    assert breakdown.prompt_cost == pytest.approx(1000 * 2.5e-6)
    assert breakdown.completion_cost == pytest.approx(500 * 1e-5)
    assert breakdown.source == "estimated"


def test_claude_models_have_their_own_prices():
    profile = get_profile("anthropic/claude-sonnet-4-5")
    assert profile.priced and profile.input_cost_per_token >= 1e-6
    assert profile.cache_read_cost_per_token < profile.input_cost_per_token
    cost = CostEstimator().estimate(
        0, 0, "anthropic/claude-sonnet-4-5", cache_read_tokens=1000, cache_write_tokens=1000
    )
    assert cost.cache_read_cost == pytest.approx(1000 * profile.cache_read_cost_per_token)
    assert cost.cache_write_cost == pytest.approx(1000 * profile.cache_write_cost_per_token)


def test_unknown_model_is_unpriced_not_guessed():
    breakdown = CostEstimator().estimate(1000, 1000, "openai/totally-unknown-model")
    assert breakdown.source == "unpriced" and breakdown.total_cost == 0


def test_longest_prefix_match_for_dated_names():
    profile = get_profile("openai/gpt-4o-mini-2099-01-01")
    assert profile.table_key == "gpt-4o-mini"


def test_local_models_cost_nothing_unless_configured(home):
    assert CostEstimator().estimate(10**6, 10**6, "ollama/llama3.2").total_cost == 0
    toml = home / "config" / "mamba" / "config.toml"
    toml.parent.mkdir(parents=True)
    toml.write_text(
        '[models."ollama/llama3.2"]\ninput_price = 1.0\noutput_price = 2.0\ncontext_window = 4096\n'
    )
    settings = AgentSettings()
    assert CostEstimator(settings).estimate(10**6, 10**6, "ollama/llama3.2").total_cost == 3.0
    assert get_profile("ollama/llama3.2", settings).context_window == 4096


def test_one_price_table_profile_has_window_and_capabilities():
    profile = get_profile("gpt-4o")
    assert profile.context_window == 128000 and profile.supports_tools and profile.supports_vision
    assert profile.source == "litellm"


def test_token_counter_works_offline_and_counts_messages():
    counter = TokenCounter()
    assert counter.exact
    assert counter.count("Hello, world!") == 4
    assert counter.count_messages([{"role": "user", "content": "Hi"}]) == 3 + 4 + 1


def test_token_counter_falls_back_when_no_encoding():
    counter = TokenCounter(encoding="no_such_encoding")
    assert not counter.exact
    assert counter.count("abcdefgh") == 2


def test_usage_tracker_sums_and_groups_by_model():
    tracker = UsageTracker()
    tracker.record_usage(
        input_tokens=100, output_tokens=50, model="gpt-4o", cost_usd=0.1, cost_source="estimated"
    )
    tracker.record_usage(
        input_tokens=10, output_tokens=5, model="gpt-4o-mini", cost_usd=0.0, cost_source="unpriced"
    )
    summary = tracker.get_summary()
    assert summary.total.prompt_tokens == 110 and summary.total.request_count == 2
    assert summary.by_model["gpt-4o"].completion_tokens == 50
    assert summary.cost_source == "unpriced"


def test_token_tools_import_no_transport_or_heavy_library():
    """Prices and counts come from the backends' public profile API, which loads no
    transport, retry library or tokenizer until one is used."""
    code = (
        "import sys, mamba_agents.tokens, mamba_agents.backends as b\n"
        "assert {'ModelProfile', 'get_profile', 'litellm_package_dir', 'complete_with_retries',"
        " 'OnRetry'} <= set(b.__all__)\n"
        "print(sorted(m for m in ('litellm', 'tiktoken', 'mcp', 'openai', 'httpx', 'tenacity',"
        " 'pydantic', 'mamba_agents.backends._openai_compat', 'mamba_agents.backends._litellm')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
