"""A real coding-agent CLI (mini-swe-agent from PyPI), run offline through Nightshift's command backend
and sandbox, against the OpenAI-compatible stub model in tests/support/stub_model.py.

Network choice: the stub listens on the host's loopback and the preset uses `network: allow`, so the
CLI reaches it exactly as a real deployment reaches its model API: through Nightshift's egress proxy
(HTTP_PROXY inside the sandbox, a unix socket out of it). The proxy always refuses loopback, so the test
sets the test-only `allow_loopback_ports` for the stub's port; the rest of the allow-list policy is
covered by tests/reliability/test_sandbox_egress.py.

The CLI is installed once into its own venv under ~/.cache/nightshift/agent-venvs/ (keyed by the
pinned versions, reused when present) with the project's own pip, so the machine's package index
configuration applies. The test skips (loudly) only when pip cannot reach a package index.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nightshift.agents.backends import build_runner
from nightshift.agents.config import AgentConfig
from nightshift.agents.contract import Checkpoint, CheckpointRequest, Limits
from nightshift.agents.workspace import WorkspaceManager
from nightshift.models import Ticket
from tests.agentcli.conftest import python_tool
from tests.support.stub_model import StubModel, _text

pytestmark = pytest.mark.agentcli

MINI_VERSION = "2.4.6"
LITELLM_VERSION = "1.106.2"
CANARIES = {
    "AIRFLOW__CORE__FERNET_KEY": "canary-fernet-mini-3f9e2d1c",
    "NIGHTSHIFT_CANARY": "canary-nightshift-mini-7b6a5c4d",
    "GITLAB_TOKEN": "glpat-canaryMINIcanary123456",
}
API_KEY = "sk-stub-allowlisted-key-0000000000"


def mini_venv() -> Path:
    """The cached venv with mini-swe-agent, installed on first use (about a minute, ~700 MB).

    Byte-compiled (python_tool): the sandbox mounts the venv read-only, and without compiled bytecode
    every run would recompile litellm from source (~15 s instead of ~3 s).
    """
    requirements = [f"mini-swe-agent=={MINI_VERSION}", f"litellm=={LITELLM_VERSION}"]
    return python_tool(
        f"mini-swe-agent-{MINI_VERSION}_litellm-{LITELLM_VERSION}", requirements, "mini"
    ).parents[1]


def reply(command: str, thought: str) -> str:
    return f"THOUGHT: {thought}\n\n```mswea_bash_command\n{command}\n```"


FINISH = reply("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", "The task is done.")
C0_RESULT = json.dumps(
    {"checkpoint": "C0", "status": "ok", "scope": {"summary": "Add calc.py with add()", "files": ["calc.py"]}}
)
SCRIPTS = {
    "C0": [
        reply(f"cat > \"$NIGHTSHIFT_RESULT\" <<'EOF'\n{C0_RESULT}\nEOF", "Write the scope result."),
        FINISH,
    ],
    "C2": [
        reply(
            "printf 'def add(a, b):\\n    return a + b\\n' > calc.py && python3 -c 'print(1)' || true",
            "Create calc.py with the add function.",
        ),
        FINISH,
    ],
}


def script(body: dict) -> str:
    """Pick the scripted conversation from the checkpoint named in the prompt, the step from the turn."""
    first_user = next((m.get("content", "") for m in body["messages"] if m.get("role") == "user"), "")
    checkpoint = "C0" if "checkpoint C0 of three" in str(first_user) else "C2"
    steps = SCRIPTS[checkpoint]
    turns = sum(1 for m in body["messages"] if m.get("role") == "assistant")
    return steps[min(turns, len(steps) - 1)]


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    repo = tmp_path / "origin"
    repo.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x.invalid",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "init"]):
        if args[0] == "add":
            (repo / "README.md").write_text("# calc\n")
        subprocess.run(["git", *args], cwd=repo, check=True, env=env, capture_output=True)
    return repo


@pytest.mark.timeout(1500)  # the first run installs the CLI (1-3 minutes, longer on a loaded machine)
def test_mini_swe_agent_edits_the_worktree_through_the_sandbox(tmp_path, origin, monkeypatch):
    venv = mini_venv()
    for key, value in CANARIES.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    worktree = WorkspaceManager(tmp_path / "ws", min_free_mb=1).create(
        str(origin), "CALC-7", "main", batch_id="b1"
    )
    ticket = Ticket(
        id="CALC-7",
        title="Add an add() helper",
        description="Create calc.py with add(a, b).",
        estimated_files=["calc.py"],
        acceptance_criteria=["add(2, 3) == 5"],
    )

    with StubModel(script, log_path=tmp_path / "model-requests.jsonl") as stub:
        config = AgentConfig(
            preset="mini-swe-agent",
            timeout_seconds=180,
            command_vars={"mini": str(venv / "bin" / "mini"), "api_base": stub.base_url},
            allowed_hosts=[f"127.0.0.1:{stub.port}"],
            allow_loopback_ports=[stub.port],
        )
        runner = build_runner(config)
        results = {}
        for checkpoint in (Checkpoint.C0, Checkpoint.C2):
            request = CheckpointRequest(
                batch_id="b1",
                ticket=ticket,
                checkpoint=checkpoint,
                workspace=str(worktree),
                limits=Limits(timeout_seconds=180),
            )
            results[checkpoint.value] = runner.run(request, tmp_path / "runs" / checkpoint.value)
        requests = stub.chat_requests()

    c0, c2 = results["C0"], results["C2"]
    stderr = (tmp_path / "runs" / "C2" / "stderr.txt").read_text()[-3000:]
    # C0: the model told the CLI to write the contract's result file; Nightshift read it.
    assert c0.status == "ok", (c0.reason, (tmp_path / "runs" / "C0" / "stderr.txt").read_text()[-3000:])
    assert c0.scope.files == ["calc.py"]
    # C2: the edit happened in the worktree; the result was synthesised from exit code + git status.
    assert c2.status == "ok", (c2.reason, stderr)
    assert c2.implementation.files_changed == ["calc.py"]
    assert (worktree / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    run = json.loads((tmp_path / "runs" / "C2" / "run.json").read_text())
    assert run["sandboxed"] is True and run["network"] == "allow" and run["exit_code"] == 0
    assert run["processes_left"] == 0
    # Every model request went through the egress proxy (the sandbox has no other way out).
    assert run["egress"] and all(
        d["destination"] == run["allowed_hosts"][0] and d["refused"] is None for d in run["egress"]
    )

    # What the model was sent: our prompt (ticket, result path), then the observation of the command.
    assert len(requests) == 4  # two steps per checkpoint
    first = json.dumps(requests[0]["body"]["messages"])
    assert "CALC-7" in first and "Add an add() helper" in first and "/nightshift/out/result.json" in first
    observation = json.dumps(requests[3]["body"]["messages"])
    assert "<returncode>0</returncode>" in observation
    assert all(r["headers"].get("Authorization") == f"Bearer {API_KEY}" for r in requests)
    # No canary from the parent environment reached the model (bodies and headers).
    sent = "".join(r["raw"] + json.dumps(r["headers"]) for r in requests)
    assert sum(sent.count(v) for v in CANARIES.values()) == 0
    # Usage read from the trajectory mini-swe-agent left in the out folder: the stub's own figures.
    c2_requests = requests[2:]
    assert c2.usage.input_tokens == sum(
        sum(len(_text(m)) for m in r["body"]["messages"]) // 4 for r in c2_requests
    )
    assert c2.usage.output_tokens == sum(max(1, len(script(r["body"])) // 4) for r in c2_requests)
    assert (
        json.loads((tmp_path / "runs" / "C2" / "usage.json").read_text())["input_tokens"]
        == c2.usage.input_tokens
    )
    print(
        f"\nFIGURES mini-swe-agent: requests={len(requests)} canaries_sent=0 "
        f"c0={results['C0'].duration_seconds}s c2={results['C2'].duration_seconds}s"
    )


@pytest.mark.timeout(1500)
def test_mini_swe_agent_rate_limit_becomes_a_pause(tmp_path, origin, monkeypatch):
    """The stub answers 429 with "try again in 2s": the run is rate_limited with that reset time."""
    from tests.agentcli.conftest import assert_batch_pauses

    venv = mini_venv()
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    worktree = WorkspaceManager(tmp_path / "ws", min_free_mb=1).create(
        str(origin), "CALC-7", "main", batch_id="b1"
    )
    ticket = Ticket(id="CALC-7", title="Add an add() helper", description="Create calc.py with add(a, b).")
    with StubModel(script, rate_limit_after=0, retry_after=2) as stub:
        config = AgentConfig(
            preset="mini-swe-agent",
            timeout_seconds=60,
            command_vars={"mini": str(venv / "bin" / "mini"), "api_base": stub.base_url},
            allowed_hosts=[f"127.0.0.1:{stub.port}"],
            allow_loopback_ports=[stub.port],
        )
        request = CheckpointRequest(
            batch_id="b1",
            ticket=ticket,
            checkpoint=Checkpoint.C2,
            workspace=str(worktree),
            limits=Limits(timeout_seconds=60),
        )
        result = build_runner(config).run(request, tmp_path / "run")
    assert result.status == "rate_limited", (
        result.reason,
        (tmp_path / "run" / "stdout.txt").read_text()[-3000:],
    )
    assert result.rate_limit_reset_at is not None
    assert_batch_pauses(result, tmp_path)
    assert not (worktree / "calc.py").exists()
    print(f"\nFIGURES mini-swe-agent 429: reset_at={result.rate_limit_reset_at} {result.duration_seconds}s")
