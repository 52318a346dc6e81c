"""Small helpers shared by the gates tests."""

from __future__ import annotations

from pathlib import Path

from nightshift.gates.config import GatesConfig
from nightshift.gates.report import CheckResult, GateReport
from nightshift.gates.run import run_gates
from nightshift.models import Ticket

CALC = '''"""Arithmetic."""

from __future__ import annotations


def add(a: int, b: int) -> int:
    return a + b
'''
CALC_TESTS = """from calc import add


def test_add() -> None:
    assert add(2, 3) == 5


def test_add_negative() -> None:
    assert add(-2, 1) == -1
"""
PYPROJECT = """[tool.pytest.ini_options]
pythonpath = ["."]

[tool.ruff.lint]
select = ["E", "F"]
"""
BASE = {"calc.py": CALC, "tests/test_calc.py": CALC_TESTS, "pyproject.toml": PYPROJECT}


def gate(
    repo: Path,
    base: str,
    head: str,
    config: GatesConfig,
    *checks: str,
    ticket: Ticket | None = None,
    toolchain: Path | None = None,
    claimed_success: bool = True,
) -> GateReport:
    return run_gates(
        repo,
        base,
        head,
        ticket,
        config,
        only=checks or None,
        toolchain=toolchain,
        claimed_success=claimed_success,
    )


def result(report: GateReport, name: str) -> CheckResult:
    return next(c for c in report.checks if c.name == name)


def kinds(report: GateReport) -> set[str]:
    return {f.kind for f in report.flags}
