"""Codex CLI (npm, pinned) runs one checkpoint for real: `codex exec --json` with its own sandbox off,
inside Nightshift's bubblewrap sandbox, the egress proxy reaching only the Responses API stub. The
scripted model reads calc.py, fixes it, runs the test (and dumps the environment it sees), writes the
contract's result file itself, then finishes. Codex reports tokens but no cost: the price table prices it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nightshift.agents.config import AgentConfig
from tests.agentcli.conftest import (
    FIXED,
    assert_batch_pauses,
    assert_no_canary,
    assert_sandboxed_run,
    header,
    npm_tool,
    run_checkpoint,
    stderr_tail,
)
from tests.support.stub_apis import USAGE, ResponsesStub, tool_results

pytestmark = pytest.mark.agentcli

VERSION = "0.171.0"
API_KEY = "sk-stub-codex-allowlisted-0000"
RESULT = json.dumps(
    {
        "checkpoint": "C2",
        "status": "ok",
        "implementation": {"summary": "add() now adds", "files_changed": ["calc.py"], "tests_passed": True},
    }
)
PRICES = "models:\n  stub-codex: {input: 2.0, cached_input: 0.5, output: 8.0}\n"


def script(body: dict[str, Any]) -> list[dict[str, Any]]:
    step = tool_results(body)
    commands = [
        "cat calc.py",
        "printf 'def add(a, b):\\n    return a + b\\n' > calc.py",
        "python3 test_calc.py; env",
        f"cat > \"$NIGHTSHIFT_RESULT\" <<'EOF'\n{RESULT}\nEOF",
    ]
    if step < len(commands):
        return [{"tool": "exec_command", "input": {"cmd": commands[step]}}]
    return [{"text": "Fixed add() and wrote the result."}]


def config(stub: ResponsesStub, tmp_path: Path) -> AgentConfig:
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICES)
    return AgentConfig(
        preset="codex",
        timeout_seconds=150,
        command_vars={
            "codex": str(npm_tool("@openai/codex", VERSION, "codex")),
            "api_base": stub.base_url,
            "model": "stub-codex",
            "max_retries": "0",
        },
        prices_file=prices,
        allowed_hosts=[f"127.0.0.1:{stub.port}"],
        allow_loopback_ports=[stub.port],
    )


@pytest.mark.timeout(1500)
def test_codex_fixes_the_bug_through_the_sandbox(tmp_path, worktree, canaries, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    run_dir = tmp_path / "run"
    with ResponsesStub(script) as stub:
        result = run_checkpoint(config(stub, tmp_path), worktree, run_dir)
        posts = stub.posts()

    assert result.status == "ok", (result.reason, stderr_tail(run_dir))
    assert (worktree / "calc.py").read_text() == FIXED
    assert result.implementation is not None and result.implementation.tests_passed is True
    assert_sandboxed_run(run_dir)
    assert len(posts) == 5 and all(p["path"] == "/v1/responses" for p in posts)
    assert "tests passed" in posts[3]["raw"] and "NIGHTSHIFT_RESULT" in posts[3]["raw"]
    assert_no_canary(posts)
    assert all(header(p, "authorization") == f"Bearer {API_KEY}" for p in posts)
    # Usage from the turn.completed event, priced from the test's price table.
    usage = result.usage
    assert usage.input_tokens == len(posts) * (USAGE["input"] + USAGE["cache_read"])
    assert usage.cached_input_tokens == len(posts) * USAGE["cache_read"]
    assert usage.output_tokens == len(posts) * USAGE["output"]
    expected = len(posts) * (USAGE["input"] * 2.0 + USAGE["cache_read"] * 0.5 + USAGE["output"] * 8.0) / 1e6
    assert usage.cost_source == "price_table" and usage.cost_usd == pytest.approx(expected)
    print(f"\nFIGURES codex: requests={len(posts)} usage={usage.model_dump()} {result.duration_seconds}s")


@pytest.mark.timeout(1500)
def test_codex_rate_limit_becomes_a_pause(tmp_path, worktree, canaries, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    run_dir = tmp_path / "run"
    with ResponsesStub(script, rate_limit_after=0, retry_after=7) as stub:
        result = run_checkpoint(config(stub, tmp_path), worktree, run_dir)
    assert result.status == "rate_limited", (result.reason, stderr_tail(run_dir))
    assert "429" in result.reason
    # Codex prints only "last status: 429": no reset time, so the batch waits its default pause.
    assert result.rate_limit_reset_at is None
    assert_batch_pauses(result, tmp_path)
    assert (worktree / "calc.py").read_text() != FIXED
    print(f"\nFIGURES codex 429: reset_at={result.rate_limit_reset_at} reason={result.reason[:200]!r}")
