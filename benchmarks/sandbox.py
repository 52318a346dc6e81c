"""What the bubblewrap sandbox costs per checkpoint: one scripted-agent C2 run with a trivial behaviour.

The same checkpoint is also run with the sandbox explicitly off (the operator opt-out), so the
difference is the sandbox's own overhead. Target: under 0.5 s per checkpoint, small next to the
minutes a real agent spends, so there is never a reason to turn isolation off for speed.
Skipped (with the reason) when bubblewrap cannot start here: the runner fails closed.
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from itertools import count as counter
from pathlib import Path

from benchmarks._harness import Case, Result, Settings, check, seconds
from nightshift.agents.backends import build_runner
from nightshift.agents.config import AgentConfig, ScriptedConfig
from nightshift.agents.contract import Checkpoint, CheckpointRequest, CheckpointResult, Limits
from nightshift.agents.runner import AgentRunner
from nightshift.agents.sandbox import SandboxUnavailable
from nightshift.agents.workspace import WorkspaceManager
from nightshift.models import Ticket

TICKET = "BENCH-1"
BEHAVIOUR = """description: benchmark -- one small write, nothing else
checkpoints:
  C2:
    steps:
      - write: {path: bench.txt, content: "ok\\n"}
"""
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
TARGET = 0.5  # seconds of overhead per checkpoint


def _origin(root: Path) -> Path:
    """A one-commit upstream repository for the worktree."""
    git = shutil.which("git") or "git"
    repo = root / "origin"
    repo.mkdir()
    (repo / "README.md").write_text("# bench\n")
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "initial"]):
        subprocess.run([git, *args], cwd=repo, check=True, capture_output=True, env=env)
    return repo


def _runner(root: Path, *, unsandboxed: bool) -> AgentRunner:
    scripted = ScriptedConfig(behaviours_dir=root / "behaviours", state_dir=root / "state")
    runner_log = logging.getLogger("nightshift.agents.backends")
    level = runner_log.level
    runner_log.setLevel(logging.ERROR)  # the opt-out's warning is expected here, not news
    try:
        return build_runner(AgentConfig(scripted=scripted, unsandboxed=unsandboxed))
    finally:
        runner_log.setLevel(level)


def bench_checkpoint(settings: Settings) -> Iterator[Result]:
    name = "sandbox.checkpoint"
    if shutil.which("git") is None:
        yield Result(name, "", "", skipped="git is not installed")
        return
    with tempfile.TemporaryDirectory(prefix="nightshift-bench-") as tmp:
        root = Path(tmp)
        (root / "behaviours").mkdir()
        (root / "behaviours" / f"{TICKET}.yaml").write_text(BEHAVIOUR)
        try:
            sandboxed = _runner(root, unsandboxed=False)
        except SandboxUnavailable as exc:
            yield Result(name, "", "", skipped=f"bubblewrap cannot start here: {' '.join(str(exc).split())}")
            return
        unsandboxed = _runner(root, unsandboxed=True)
        worktree = WorkspaceManager(root / "ws", min_free_mb=1).create(
            str(_origin(root)), TICKET, "main", batch_id="bench"
        )
        request = CheckpointRequest(
            batch_id="bench",
            ticket=Ticket(id=TICKET, title="Benchmark", estimated_files=["bench.txt"]),
            checkpoint=Checkpoint.C2,
            workspace=str(worktree),
            limits=Limits(timeout_seconds=60),
        )
        runs = counter()

        def once(runner: AgentRunner) -> CheckpointResult:
            return runner.run(request, root / "runs" / f"run-{next(runs)}")

        repeats = settings.repeats(5, 1)
        once(sandboxed)  # warm-up: page cache, the interpreter's first start
        on: list[float] = []
        off: list[float] = []
        results: list[CheckpointResult] = []
        for _ in range(repeats):  # interleaved, so drift in machine load hits both alike
            for runner, times in ((sandboxed, on), (unsandboxed, off)):
                start = time.perf_counter()
                results.append(once(runner))
                times.append(time.perf_counter() - start)
    for result in results:
        check(result.status == "ok", f"the checkpoint ended {result.status}: {result.reason}")
    on_s, off_s = statistics.median(on), statistics.median(off)
    overhead = on_s - off_s
    sign = "-" if overhead < 0 else ""
    how = f"median of {repeats} each, interleaved" if repeats > 1 else "1 run each"
    yield Result(
        name,
        f"C2 sandboxed {seconds(on_s)}, unsandboxed {seconds(off_s)} ({how}, after 1 warm-up): "
        f"overhead {sign}{seconds(abs(overhead))}",
        f"< {seconds(TARGET)} overhead",
        overhead < TARGET,
    )


CASES = [Case("sandbox.checkpoint", bench_checkpoint)]
