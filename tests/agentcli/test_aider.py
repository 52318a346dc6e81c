"""aider (PyPI, pinned) runs one checkpoint for real: command backend, bubblewrap sandbox, egress proxy
reaching only the Chat Completions stub. aider reads the repository itself, the scripted model answers
with the fixed calc.py in aider's `whole` edit format, aider applies it and runs the test command
(AIDER_TEST_CMD with --auto-test, given through aider's own environment options). aider writes no
result.json: C2 is synthesised from the exit code and git status. Usage and cost are read from
aider's "Tokens: ... Cost: ..." lines (priced by aider from the model metadata file).
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
    python_tool,
    run_checkpoint,
    stderr_tail,
)
from tests.support.stub_model import StubModel

pytestmark = pytest.mark.agentcli

VERSION = "0.86.2"
API_KEY = "sk-stub-aider-allowlisted-0000"
MODEL = "openai/stub-model"
REPLY = "I will fix add().\n\ncalc.py\n```python\n" + FIXED + "```\n"


def script(body: dict[str, Any]) -> str:
    """The fix, again when aider has just added calc.py to the chat (it applies whole-file edits only
    to files in the chat); "Done." otherwise once the fix was given. aider's prompt holds example
    assistant turns of its own, so the turn count cannot pick the step."""
    messages = body["messages"]
    if "I added these files to the chat" in str(messages[-1].get("content")):
        return REPLY
    return "Done." if any(FIXED in str(m.get("content")) for m in messages) else REPLY


def config(stub: StubModel, tmp_path: Path, **extra: Any) -> AgentConfig:
    metadata = tmp_path / "aider-models.json"
    metadata.write_text(
        json.dumps(
            {
                MODEL: {
                    "max_input_tokens": 100000,
                    "max_output_tokens": 4096,
                    "input_cost_per_token": 0.000002,
                    "output_cost_per_token": 0.000008,
                    "litellm_provider": "openai",
                    "mode": "chat",
                }
            }
        )
    )
    aider = python_tool(f"aider-chat-{VERSION}", [f"aider-chat=={VERSION}"], "aider")
    return AgentConfig(
        preset="aider",
        timeout_seconds=extra.pop("timeout_seconds", 150),
        command_vars={"aider": str(aider), "api_base": stub.base_url, "model": MODEL},
        env={
            "AIDER_MODEL_METADATA_FILE": str(metadata),
            "AIDER_TEST_CMD": "python3 test_calc.py",
            "AIDER_AUTO_TEST": "true",
            **extra.pop("env", {}),
        },
        ro_binds=[metadata],
        allowed_hosts=[f"127.0.0.1:{stub.port}"],
        allow_loopback_ports=[stub.port],
        **extra,
    )


@pytest.mark.timeout(1500)
def test_aider_fixes_the_bug_through_the_sandbox(tmp_path, worktree, canaries, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    run_dir = tmp_path / "run"
    with StubModel(script, log_path=tmp_path / "requests.jsonl") as stub:
        result = run_checkpoint(config(stub, tmp_path), worktree, run_dir)
        posts = stub.chat_requests()

    assert result.status == "ok", (result.reason, stderr_tail(run_dir))
    assert (worktree / "calc.py").read_text() == FIXED
    assert result.implementation is not None and result.implementation.files_changed == ["calc.py"]
    assert_sandboxed_run(run_dir)
    assert posts and all(header(p, "authorization") == f"Bearer {API_KEY}" for p in posts)
    assert "add() subtracts" in posts[0]["raw"]  # the ticket, from the prompt file
    assert any("return a - b" in p["raw"] for p in posts)  # aider read calc.py into the chat
    assert "tests passed" in (run_dir / "stdout.txt").read_text()  # aider ran the test after its edit
    assert_no_canary(posts)
    usage = result.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.cost_source == "agent" and usage.cost_usd >= 0
    print(f"\nFIGURES aider: requests={len(posts)} usage={usage.model_dump()} {result.duration_seconds}s")


@pytest.mark.timeout(1500)
def test_aider_rate_limit_becomes_a_pause(tmp_path, worktree, canaries, monkeypatch):
    """aider retries a 429 by itself for over a minute (litellm waits each retry-after, aider backs off
    up to 60 s): Nightshift's timeout ends it first, and a run that timed out while the CLI was
    retrying a rate limit is a rate limit, not a failure."""
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    run_dir = tmp_path / "run"
    with StubModel(script, rate_limit_after=0, retry_after=2) as stub:
        result = run_checkpoint(config(stub, tmp_path, timeout_seconds=30), worktree, run_dir)
    assert result.status == "rate_limited", (result.reason, stderr_tail(run_dir))
    assert result.rate_limit_reset_at is not None  # "try again in 2s" from the API's error message
    assert_batch_pauses(result, tmp_path)
    assert (worktree / "calc.py").read_text() != FIXED
    print(f"\nFIGURES aider 429: reset_at={result.rate_limit_reset_at} reason={result.reason[:200]!r}")
