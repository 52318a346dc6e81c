"""What the gates cost against the work they check: `gates_cost_ratio` = the gates' wall time on the
demo repository (every check of `nightshift.gates.run.run_gates`: the tests in the sandbox, lint,
security, secrets and scope) divided by the wall time of that repository's own test suite run plainly.

The head is a ticket-sized change (a function and its test) on include/demo/repo. Both runs use the test
command the repository configures (its .nightshift/gates.yaml, which wins over the deployment's) with
the same toolchain (this venv) and the same environment variables; the plain run has no sandbox and no
fresh checkout. semgrep is off, as in the gates tests: its rules need a tool venv that a fresh clone
does not have. Target: 1.5.
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
from dataclasses import dataclass
from pathlib import Path

from benchmarks._harness import REPO, Case, Result, Settings, check, seconds
from benchmarks.sandbox import GIT_ENV
from nightshift.gates.config import GatesConfig
from nightshift.gates.run import effective_config, run_gates

TARGET = 1.5
DEMO_REPO = REPO / "include" / "demo" / "repo"
#: Prefixed to the repository's command for the lean-suite line: the toolchain (this venv) holds every
#: pytest plugin Nightshift's own tests use, and loading them dominates a 3-test suite.
LEAN = "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1"
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


def _own_env(tmp: Path, toolchain: Path) -> dict[str, str]:
    """The variables the gates give the suite (tests.run_suite), without the sandbox."""
    home = tmp / "own-home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": f"{toolchain}/bin:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "TMPDIR": tempfile.gettempdir(),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "CI": "true",
        "NO_COLOR": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NIGHTSHIFT_JUNIT_XML": str(tmp / "own-junit.xml"),
        "NIGHTSHIFT_TOOLCHAIN": str(toolchain),
    }


@dataclass(frozen=True)
class _Costs:
    gates_s: float
    own_s: float
    runs: int
    checks: str

    @property
    def ratio(self) -> float:
        return self.gates_s / self.own_s

    def figures(self) -> str:
        return (
            f"{self.ratio:.2f}: gates {seconds(self.gates_s)}, the demo repository's own tests "
            f"{seconds(self.own_s)} (median of {self.runs}; {self.checks})"
        )


def _measure(
    repo: Path, base: str, head: str, cfg: GatesConfig, command: str, tmp: Path, runs: int, *, lean: bool
) -> _Costs:
    """Own suite then gates, alternately, `runs` times; `lean` passes the command as the operator's
    override (run_gates' test_command), which wins over the repository's file."""
    toolchain = Path(sys.prefix)
    own_env = _own_env(tmp, toolchain)
    gates_s: list[float] = []
    own_s: list[float] = []
    checks = ""
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(
            ["/bin/sh", "-c", command], cwd=repo, capture_output=True, text=True, env=own_env
        )
        own_s.append(time.perf_counter() - started)
        check(proc.returncode == 0, f"the demo repository's tests fail: {proc.stdout[-300:]}")
        started = time.perf_counter()
        report = run_gates(
            repo, base, head, None, cfg, toolchain=toolchain, test_command=command if lean else None
        )
        gates_s.append(time.perf_counter() - started)
        tests = next(c for c in report.checks if c.name == "tests")
        check(tests.status == "passed", f"the gates' tests check is {tests.status}: {tests.reason}")
        checks = ", ".join(f"{c.name} {c.status} {c.duration_s:.1f}s" for c in report.checks)
    return _Costs(statistics.median(gates_s), statistics.median(own_s), runs, checks)


def bench_gates(settings: Settings) -> Iterator[Result]:
    cfg = GatesConfig()
    cfg = cfg.model_copy(update={"security": cfg.security.model_copy(update={"semgrep": False})})
    with tempfile.TemporaryDirectory(prefix="nightshift-bench-gates-") as tmp:
        repo, base, head = _demo_change(Path(tmp))
        command = effective_config(repo, base, cfg, None).tests.command
        check(bool(command), "the demo repository configures no test command")
        assert command is not None
        runs = settings.repeats(3, 1)
        configured = _measure(repo, base, head, cfg, command, Path(tmp), runs, lean=False)
        lean = _measure(repo, base, head, cfg, f"{LEAN} {command}", Path(tmp), runs, lean=True)
    yield Result(
        "gates_cost_ratio",
        configured.figures(),
        f"<= {TARGET:g}",
        configured.ratio <= TARGET,
        figure=round(configured.ratio, 3),
    )
    # The same with the toolchain's pytest plugins not loaded: a suite this small is then mostly the
    # gates' fixed cost (checkouts, sandbox, lint, bandit), which this line shows. Not a named figure.
    yield Result("gates.cost-lean-suite", lean.figures(), f"<= {TARGET:g}", lean.ratio <= TARGET)


CASES = [Case("gates.cost", bench_gates)]
