"""run_gates runs the tests check beside the others (its suite mostly waits on a process), and the
report keeps the checks in their fixed order whatever finishes first."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from nightshift.gates import run as gates_run
from nightshift.gates.checks import CheckContext, CheckOutcome, flagged
from nightshift.gates.config import GatesConfig
from tests.nightshift.gates.conftest import Repo
from tests.nightshift.gates.helpers import BASE, gate


@pytest.fixture
def change(repo: Repo) -> tuple[Repo, str, str]:
    files: dict[str, str | None] = {**BASE}
    base = repo.commit(files, "base")
    head = repo.commit({"calc.py": BASE["calc.py"] + "\n\ndef neg(a: int) -> int:\n    return -a\n"})
    return repo, base, head


def test_the_tests_check_runs_while_the_others_do(
    change: tuple[Repo, str, str], config: GatesConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tests check waits for the lint check to start: run one after the other, it would time out."""
    repo, base, head = change
    lint_started = threading.Event()
    threads: dict[str, str] = {}

    def fake(name: str, wait_for: threading.Event | None = None, sets: threading.Event | None = None):
        def check(ctx: CheckContext) -> CheckOutcome:
            threads[name] = threading.current_thread().name
            if sets is not None:
                sets.set()
            if wait_for is not None and not wait_for.wait(timeout=30):
                return CheckOutcome.not_run(name, "lint never started while tests ran")
            return flagged(name, [], f"{name} ok")

        return check

    checks = {name: fake(name) for name in gates_run.CHECKS}
    checks["tests"] = fake("tests", wait_for=lint_started)
    checks["lint"] = fake("lint", sets=lint_started)
    monkeypatch.setattr(gates_run, "CHECKS", checks)

    report = gate(repo.path, base, head, config)

    assert [c.name for c in report.checks] == [*gates_run.CHECKS, "pipeline"]
    assert {c.name: c.status for c in report.checks if c.name != "pipeline"} == dict.fromkeys(
        gates_run.CHECKS, "passed"
    )
    assert threads["tests"] != threads["lint"]


def test_unselected_checks_stay_in_place_as_not_run(
    change: tuple[Repo, str, str], config: GatesConfig, toolchain: Path
) -> None:
    repo, base, head = change
    report = gate(repo.path, base, head, config, "scope", "tests", toolchain=toolchain)
    statuses = {c.name: c.status for c in report.checks}
    assert [c.name for c in report.checks] == [*gates_run.CHECKS, "pipeline"]
    assert statuses["tests"] == "passed" and statuses["scope"] == "passed"
    assert all(statuses[n] == "not_run" for n in ("test_changes", "lint", "security", "secrets"))
