"""The contract adapters read each CLI's own report; outputs below are what the real CLIs printed
against the stubs (tests/agentcli), trimmed."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from nightshift.agents.adapters import answer_result, read_report, reset_time
from nightshift.agents.contract import TokenUsage
from nightshift.agents.prices import DEFAULT_PRICES_FILE, PriceTable

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)

CLAUDE_OK = json.dumps(
    {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "api_error_status": None,
        "num_turns": 4,
        "result": 'Fixed.\n```json\n{"checkpoint": "C2", "status": "ok"}\n```',
        "total_cost_usd": 0.0026,
        "usage": {
            "input_tokens": 400,
            "cache_creation_input_tokens": 40,
            "cache_read_input_tokens": 120,
            "output_tokens": 80,
        },
        "modelUsage": {"claude-sonnet-4-5": {"costUSD": 0.0026}},
    }
).encode()
CLAUDE_429 = json.dumps(
    {
        "type": "result",
        "subtype": "success",
        "is_error": True,
        "api_error_status": 429,
        "result": "API Error: Request rejected (429) · Number of request tokens has exceeded your rate limit.",
        "total_cost_usd": 0,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
).encode()
CODEX = b"\n".join(
    [
        b'{"type":"thread.started","thread_id":"t"}',
        b'{"type":"item.completed","item":{"id":"item_3","type":"agent_message","text":"Done."}}',
        b'{"type":"turn.completed","usage":{"input_tokens":390,"cached_input_tokens":90,"output_tokens":60}}',
    ]
)
CODEX_429 = b"\n".join(
    [
        b'{"type":"turn.started"}',
        b'{"type":"error","message":"exceeded retry limit, last status: 429 Too Many Requests"}',
        b'{"type":"turn.failed","error":{"message":"exceeded retry limit, last status: 429 Too Many Requests"}}',
    ]
)
AIDER = b"""Tokens: 1.1k sent, 18 received. Cost: $0.0024 message, $0.0024 session.
calc.py
Tokens: 1.2k sent, 200 cache hit, 1 received. Cost: $0.0023 message, $0.0047 session.
"""
AIDER_429 = b"""litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached for
requests. Please try again in 7s.
The API provider has rate limited you. Try again later or check your quotas.
Retrying in 0.2 seconds...
"""


def test_claude_usage_cost_and_final_answer():
    report = read_report("claude-json", CLAUDE_OK, b"", None, NOW)
    assert report.usage == TokenUsage(
        input_tokens=560,
        cached_input_tokens=120,
        output_tokens=80,
        cost_usd=0.0026,
        cost_source="agent",
        model="claude-sonnet-4-5",
    )
    assert answer_result(report.final_answer or "", "C2") == '{"checkpoint": "C2", "status": "ok"}'
    assert answer_result(report.final_answer or "", "C1") is None
    assert not report.rate_limited


def test_claude_429_is_a_rate_limit():
    report = read_report("claude-json", CLAUDE_429, b"", None, NOW)
    assert report.rate_limited and "429" in (report.error or "") and report.reset_at is None


def test_codex_usage_answer_and_429():
    report = read_report("codex-jsonl", CODEX, b"", None, NOW)
    assert report.usage == TokenUsage(input_tokens=390, cached_input_tokens=90, output_tokens=60)
    assert report.final_answer == "Done." and not report.rate_limited
    limited = read_report("codex-jsonl", CODEX_429, b"", None, NOW)
    assert (
        limited.rate_limited and limited.error == "exceeded retry limit, last status: 429 Too Many Requests"
    )


def test_aider_text_usage_and_429_with_reset_time():
    report = read_report("aider-text", AIDER, b"", None, NOW)
    assert report.usage is not None
    assert (report.usage.input_tokens, report.usage.cached_input_tokens, report.usage.output_tokens) == (
        2500,
        200,
        19,
    )
    assert report.usage.cost_usd == pytest.approx(0.0047)
    limited = read_report("aider-text", AIDER_429, b"", None, NOW)
    assert limited.rate_limited and limited.reset_at == NOW + dt.timedelta(seconds=7)


def test_mini_trajectory_usage(tmp_path):
    traj = {
        "info": {"model_stats": {"instance_cost": 0.0004}, "submission": ""},
        "messages": [
            {
                "role": "assistant",
                "extra": {
                    "response": {
                        "usage": {
                            "prompt_tokens": 1168,
                            "completion_tokens": 24,
                            "prompt_tokens_details": {"cached_tokens": 100},
                        }
                    }
                },
            },
            {
                "role": "assistant",
                "extra": {"response": {"usage": {"prompt_tokens": 10, "completion_tokens": 2}}},
            },
        ],
    }
    (tmp_path / "traj.json").write_text(json.dumps(traj))
    report = read_report("mini-traj", b"", b"", tmp_path, NOW)
    assert report.usage == TokenUsage(
        input_tokens=1178, cached_input_tokens=100, output_tokens=26, cost_usd=0.0004, cost_source="agent"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("retry-after: 30", 30),
        ("Please try again in 7s.", 7),
        ("try again in 1.5 min", 90),
        ("Please try again in 250ms", 0.25),
        ("no hint here", None),
        ("retry-after: 99999999", None),
    ],
)
def test_reset_time(text, seconds):
    expected = None if seconds is None else NOW + dt.timedelta(seconds=seconds)
    assert reset_time(text, NOW) == expected


def test_price_table_prices_uncached_cached_and_output(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text("models:\n  gpt-5: {input: 1.25, cached_input: 0.125, output: 10.0}\n")
    table = PriceTable.load(path)
    usage = TokenUsage(input_tokens=1_000_000, cached_input_tokens=200_000, output_tokens=100_000)
    priced = table.priced(usage, "openai/gpt-5")
    assert priced.cost_usd == pytest.approx(0.8 * 1.25 + 0.2 * 0.125 + 0.1 * 10.0)
    assert priced.cost_source == "price_table" and priced.model == "openai/gpt-5"
    assert table.priced(usage, "unknown-model").cost_source == "none"
    reported = usage.model_copy(update={"cost_usd": 0.5, "cost_source": "agent"})
    assert table.priced(reported, "gpt-5").cost_usd == 0.5  # the agent's own figure wins
    assert PriceTable.load(DEFAULT_PRICES_FILE).lookup("gpt-5-codex") is not None  # the shipped table loads


def test_a_crash_by_signal_is_told_apart_from_an_exit_code():
    from nightshift.agents.command import exit_description

    assert exit_description(-9) == "was killed by SIGKILL"
    assert exit_description(-11) == "was killed by SIGSEGV"
    assert exit_description(2) == "exited with code 2"
