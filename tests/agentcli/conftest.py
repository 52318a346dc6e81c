"""Shared set-up for the real agent CLIs: cached tool installs (pinned), a small project with a bug and a
test, canary secrets in the parent environment, and one checkpoint run through the command backend.

Tool folders live under ~/.cache/nightshift/ (override: NIGHTSHIFT_AGENT_VENVS / NIGHTSHIFT_AGENT_TOOLS),
keyed by the pinned version and reused when complete; an install is serialised by a lock file. The
tests skip (loudly) only when the package registry cannot be reached.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nightshift.agents.backends import build_runner
from nightshift.agents.config import AgentConfig
from nightshift.agents.contract import Checkpoint, CheckpointRequest, CheckpointResult, Limits
from nightshift.agents.workspace import WorkspaceManager
from nightshift.artifacts import ArtifactStore
from nightshift.gates.tools import install_once, pinned_venv
from nightshift.generation.state import BatchState
from nightshift.models import Ticket
from tests.support.tools import installed_or_skip

VENVS = Path(os.environ.get("NIGHTSHIFT_AGENT_VENVS", Path.home() / ".cache" / "nightshift" / "agent-venvs"))
TOOLS = Path(os.environ.get("NIGHTSHIFT_AGENT_TOOLS", Path.home() / ".cache" / "nightshift" / "agent-tools"))
CANARIES = {
    "AIRFLOW__CORE__FERNET_KEY": "canary-fernet-cli-3f9e2d1c",
    "NIGHTSHIFT_CANARY": "canary-nightshift-cli-7b6a5c4d",
    "GITLAB_TOKEN": "glpat-canaryCLIcanary1234567",
}

BUGGY = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
TEST = "from calc import add\n\nassert add(2, 3) == 5, add(2, 3)\nprint('tests passed')\n"


def npm_tool(package: str, version: str, binary: str) -> Path:
    """node_modules/.bin/<binary> of `package@version`, installed once into its own prefix folder."""
    folder = TOOLS / f"{package.rsplit('/', 1)[-1]}-{version}"
    npm = shutil.which("npm") or pytest.skip("!!! SKIPPED: npm is not installed")
    step = [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", f"{package}@{version}"]
    exe = folder / "node_modules" / ".bin" / binary
    installed_or_skip(
        lambda: install_once(folder, f"{package}@{version}", [step], ready=exe, timeout=1200), package
    )
    return exe


def python_tool(name: str, requirements: list[str], binary: str) -> Path:
    """bin/<binary> of a venv with `requirements`, installed once (and byte-compiled: the sandbox
    mounts it read-only, so uncompiled modules would be compiled again on every run)."""
    return installed_or_skip(
        lambda: pinned_venv(VENVS / name, requirements, binary, compile_bytecode=True, timeout=1200),
        " ".join(requirements),
    )


@pytest.fixture
def canaries(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in CANARIES.items():
        monkeypatch.setenv(key, value)
    return CANARIES


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    """A worktree of a small project whose test fails until calc.add is fixed."""
    repo = tmp_path / "origin"
    repo.mkdir()
    (repo / "calc.py").write_text(BUGGY)
    (repo / "test_calc.py").write_text(TEST)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x.invalid",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env, capture_output=True)
    return WorkspaceManager(tmp_path / "ws", min_free_mb=1).create(str(repo), "CALC-7", "main", batch_id="b1")


TICKET = Ticket(
    id="CALC-7",
    title="add() subtracts",
    description="calc.add(2, 3) returns -1. Fix it so test_calc.py passes.",
    estimated_files=["calc.py"],
    acceptance_criteria=["python3 test_calc.py prints 'tests passed'"],
)


def run_checkpoint(
    config: AgentConfig, worktree: Path, run_dir: Path, checkpoint: Checkpoint = Checkpoint.C2
) -> CheckpointResult:
    runner = build_runner(config)
    request = CheckpointRequest(
        batch_id="b1",
        ticket=TICKET,
        checkpoint=checkpoint,
        workspace=str(worktree),
        limits=Limits(timeout_seconds=config.timeout_seconds),
    )
    return runner.run(request, run_dir)


def assert_no_canary(requests: list[dict[str, Any]]) -> None:
    """No canary from the parent environment reached the model (bodies and headers)."""
    sent = "".join(r["raw"] + json.dumps(r["headers"]) for r in requests)
    leaked = [name for name, value in CANARIES.items() if value in sent]
    assert not leaked, f"secrets reached the model: {leaked}"


def assert_sandboxed_run(run_dir: Path) -> dict[str, Any]:
    """The run was sandboxed and every connection went through the egress proxy to the stub only."""
    run = json.loads((run_dir / "run.json").read_text())
    assert run["sandboxed"] is True and run["network"] == "allow", run
    assert run["egress"], "no connection went through the egress proxy"
    assert all(d["destination"] == run["allowed_hosts"][0] and d["refused"] is None for d in run["egress"]), (
        run["egress"]
    )
    assert not any(name in run["env_names"] for name in CANARIES)
    return run


def stderr_tail(run_dir: Path) -> str:
    path = run_dir / "stderr.txt"
    out = run_dir / "stdout.txt"
    return (
        (out.read_text()[-2000:] if out.exists() else "")
        + "\n--- stderr:\n"
        + (path.read_text()[-3000:] if path.exists() else "")
    )


def header(request: dict[str, Any], name: str) -> str | None:
    """A request header, case-insensitively (clients differ in how they spell names)."""
    return {k.lower(): v for k, v in request["headers"].items()}.get(name.lower())


def assert_batch_pauses(result: CheckpointResult, tmp_path: Path) -> dt.datetime:
    """The rate-limited result, recorded as the generation flow records it, pauses the batch: until the
    reset time the CLI reported, else for the batch's default wait."""
    assert result.status == "rate_limited", result.reason
    state = BatchState(ArtifactStore(f"file://{tmp_path}/artifacts").batch("b1"))
    now = dt.datetime.now(dt.UTC)
    event = state.record_rate_limit(TICKET.id, result.checkpoint, result.rate_limit_reset_at, now)
    paused = state.paused_until(now)
    assert paused is not None and paused == event.reset_at
    if result.rate_limit_reset_at is not None:
        assert paused == result.rate_limit_reset_at
    return paused
