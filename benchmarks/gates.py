"""What the gates cost against the work they check: `gates_cost_ratio` = the gates' wall time on the
demo repository (every check of `nightshift.gates.run.run_gates`: the tests in the sandbox, lint,
security, secrets and scope) divided by the wall time of that repository's own test suite run plainly.

The head is a ticket-sized change (a function and its test) on include/demo/repo. semgrep is off, as in
the gates tests: its rules need a tool venv that a fresh clone does not have. Target: 1.5.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks._harness import REPO, Case, Result, Settings, check, seconds
from benchmarks.sandbox import GIT_ENV

TARGET = 1.5
DEMO_REPO = REPO / "include" / "demo" / "repo"
PYTEST = "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m pytest -q -p no:cacheprovider"
OWN_TESTS = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
CHANGE = """

def negate(x: float) -> float:
    return -x
"""
CHANGE_TEST = """

def test_negate():
    from calc.ops import negate

    assert negate(3) == -3
"""


def _git(repo: Path, *args: str) -> str:
    git = shutil.which("git") or "git"
    env = {**os.environ, **GIT_ENV}
    return subprocess.run([git, *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


def _demo_change(root: Path) -> tuple[Path, str, str]:
    repo = root / "calc"
    shutil.copytree(DEMO_REPO, repo)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    base = _git(repo, "rev-parse", "HEAD").strip()
    with (repo / "src" / "calc" / "ops.py").open("a") as handle:
        handle.write(CHANGE)
    with (repo / "tests" / "test_ops.py").open("a") as handle:
        handle.write(CHANGE_TEST)
    _git(repo, "commit", "-q", "-am", "feat(CALC-9): negate")
    return repo, base, _git(repo, "rev-parse", "HEAD").strip()


def bench_gates(settings: Settings) -> Iterator[Result]:
    try:
        from nightshift.gates.config import GatesConfig
        from nightshift.gates.run import run_gates
    except ImportError as exc:  # the gates core lands from another branch
        yield Result("gates_cost_ratio", "", "", skipped=f"nightshift.gates.run is not here yet ({exc})")
        return
    cfg = GatesConfig()
    cfg = cfg.model_copy(
        update={
            "tests": cfg.tests.model_copy(
                update={
                    "command": PYTEST + ' --junitxml="$NIGHTSHIFT_JUNIT_XML"',
                    "rerun_command": PYTEST + ' --junitxml="$NIGHTSHIFT_JUNIT_XML" {tests}',
                }
            ),
            "security": cfg.security.model_copy(update={"semgrep": False}),
        }
    )
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    gates_s: list[float] = []
    tests_s: list[float] = []
    with tempfile.TemporaryDirectory(prefix="nightshift-bench-gates-") as tmp:
        repo, base, head = _demo_change(Path(tmp))
        for _ in range(settings.repeats(3, 1)):
            started = time.perf_counter()
            proc = subprocess.run(OWN_TESTS, cwd=repo, capture_output=True, text=True, env=env)
            tests_s.append(time.perf_counter() - started)
            check(proc.returncode == 0, f"the demo repository's tests fail: {proc.stdout[-300:]}")
            started = time.perf_counter()
            report = run_gates(repo, base, head, None, cfg, toolchain=Path(sys.prefix))
            gates_s.append(time.perf_counter() - started)
            tests = next(c for c in report.checks if c.name == "tests")
            check(tests.status == "passed", f"the gates' tests check is {tests.status}: {tests.reason}")
    gates, own = statistics.median(gates_s), statistics.median(tests_s)
    ratio = gates / own
    yield Result(
        "gates_cost_ratio",
        f"{ratio:.2f}: gates {seconds(gates)}, the demo repository's own tests {seconds(own)} "
        f"(median of {len(gates_s)}; checks: {', '.join(f'{c.name} {c.status}' for c in report.checks)})",
        f"<= {TARGET:g}",
        ratio <= TARGET,
        figure=round(ratio, 3),
    )


CASES = [Case("gates.cost", bench_gates)]
