"""Claude Code (npm, pinned) runs one checkpoint for real: command backend, bubblewrap sandbox, egress
proxy reaching only the Anthropic Messages stub (streaming, tool use). The scripted model reads calc.py,
fixes it, runs the test (and dumps the environment it sees), then answers with the contract's result
JSON in its final text, which the adapter turns into the checkpoint result.
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
from tests.support.stub_apis import USAGE, AnthropicStub, tool_results

pytestmark = pytest.mark.agentcli

VERSION = "2.1.332"
API_KEY = "sk-ant-stub-allowlisted-0000"
RESULT = {
    "checkpoint": "C2",
    "status": "ok",
    "implementation": {
        "summary": "add() now adds",
        "files_changed": ["calc.py"],
        "tests_run": ["python3 test_calc.py"],
        "tests_passed": True,
    },
}


def conversation(workspace: Path):
    def script(body: dict[str, Any]) -> list[dict[str, Any]]:
        if not body.get("tools"):
            return [{"text": "ok"}]  # side requests (titles, summaries) get a plain answer
        step = tool_results(body)
        if step == 0:
            return [{"tool": "Read", "input": {"file_path": f"{workspace}/calc.py"}}]
        if step == 1:
            return [{"tool": "Write", "input": {"file_path": f"{workspace}/calc.py", "content": FIXED}}]
        if step == 2:
            return [
                {"tool": "Bash", "input": {"command": "python3 test_calc.py; env", "description": "test"}}
            ]
        return [{"text": "Fixed.\n```json\n" + json.dumps(RESULT) + "\n```"}]

    return script


def config(stub: AnthropicStub, **extra: Any) -> AgentConfig:
    return AgentConfig(
        preset="claude-code",
        timeout_seconds=150,
        command_vars={
            "claude": str(npm_tool("@anthropic-ai/claude-code", VERSION, "claude")),
            "api_base": stub.base_url,
            "model": "claude-sonnet-4-5",
            "max_turns": "8",
        },
        allowed_hosts=[f"127.0.0.1:{stub.port}"],
        allow_loopback_ports=[stub.port],
        **extra,
    )


@pytest.mark.timeout(1500)
def test_claude_code_fixes_the_bug_through_the_sandbox(tmp_path, worktree, canaries, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    run_dir = tmp_path / "run"
    with AnthropicStub(conversation(worktree)) as stub:
        result = run_checkpoint(config(stub), worktree, run_dir)
        posts = stub.posts()

    assert result.status == "ok", (result.reason, stderr_tail(run_dir))
    assert (worktree / "calc.py").read_text() == FIXED
    assert result.implementation is not None and result.implementation.tests_passed is True
    assert_sandboxed_run(run_dir)
    tool_posts = [p for p in posts if p["body"].get("tools")]
    assert len(tool_posts) == 4
    # The test ran in the sandbox and its output went back to the model; the env dump holds no canary.
    assert "tests passed" in tool_posts[3]["raw"] and "NIGHTSHIFT_RESULT" in tool_posts[3]["raw"]
    assert_no_canary(posts)
    assert all(header(p, "x-api-key") == API_KEY for p in posts)
    # Usage as Claude Code reported it: 4 replies x the stub's usage (cache reads are input too).
    usage = result.usage
    assert usage.input_tokens == len(posts) * (USAGE["input"] + USAGE["cache_write"] + USAGE["cache_read"])
    assert usage.cached_input_tokens == len(posts) * USAGE["cache_read"]
    assert usage.output_tokens == len(posts) * USAGE["output"]
    assert usage.cost_source == "agent" and usage.cost_usd > 0
    assert json.loads((run_dir / "usage.json").read_text())["input_tokens"] == usage.input_tokens
    print(
        f"\nFIGURES claude-code: requests={len(posts)} usage={usage.model_dump()} {result.duration_seconds}s"
    )


@pytest.mark.timeout(1500)
def test_claude_code_rate_limit_becomes_a_pause(tmp_path, worktree, canaries, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    run_dir = tmp_path / "run"
    with AnthropicStub(conversation(worktree), rate_limit_after=0, retry_after=1) as stub:
        result = run_checkpoint(config(stub, env={"CLAUDE_CODE_MAX_RETRIES": "0"}), worktree, run_dir)
    assert result.status == "rate_limited", (result.reason, stderr_tail(run_dir))
    assert "429" in result.reason or "rate" in result.reason.lower()
    assert_batch_pauses(result, tmp_path)
    assert (worktree / "calc.py").read_text() != FIXED
    print(f"\nFIGURES claude-code 429: reset_at={result.rate_limit_reset_at} reason={result.reason[:200]!r}")
