"""Rows of the reliability table (`make reliability`): each test of docs/security-and-reliability.md
records what it injected, the figure it measured and its pass criterion.

Use the `reliability_row` fixture in a test marked `reliability`:

    @pytest.mark.reliability
    def test_planted_git(reliability_row):
        ...
        reliability_row(row="An agent-planted .git below the worktree", injection="filter.x.clean",
                        figure=f"{ran} commands run on the host", criterion="0", passed=ran == 0)
        assert ran == 0

The table is printed at the end of the session when pytest runs with `--reliability-table`; a row's
result is FAIL when the test failed even if the row itself said it passed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

_KEY = "nightshift_reliability"


class Row(dict[str, Any]):
    pass


def make_recorder(request: pytest.FixtureRequest) -> Callable[..., None]:
    def record(*, row: str, injection: str, figure: object, criterion: str, passed: bool) -> None:
        request.node.user_properties.append(
            (
                _KEY,
                json.dumps(
                    {
                        "test": request.node.nodeid.split("::")[-1],
                        "row": row,
                        "injection": injection,
                        "figure": str(figure),
                        "criterion": criterion,
                        "passed": bool(passed),
                    }
                ),
            )
        )

    return record


class TableCollector:
    """Collects rows from test reports and prints the table in the terminal summary."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.when == "setup" and report.failed):
            return
        for key, value in report.user_properties:
            if key == _KEY:
                row = json.loads(str(value))
                row["result"] = "PASS" if row["passed"] and report.passed else "FAIL"
                self.rows.append(row)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        write = terminalreporter.write_line
        headers = ("test", "injection", "figure", "pass criterion", "result")
        table = [(r["test"], r["injection"], r["figure"], r["criterion"], r["result"]) for r in self.rows]
        widths = [min(60, max([len(h), *(len(str(row[i])) for row in table)])) for i, h in enumerate(headers)]

        def fmt(cells: tuple[str, ...]) -> str:
            return " | ".join(
                (c if len(c) <= w else c[: w - 1] + "…").ljust(w) for c, w in zip(cells, widths, strict=True)
            )

        terminalreporter.section("reliability table")
        write(fmt(headers))
        write("-+-".join("-" * w for w in widths))
        for row in table:
            write(fmt(tuple(str(c) for c in row)))
        failed = sum(r["result"] != "PASS" for r in self.rows)
        write(f"{len(self.rows)} rows, {len(self.rows) - failed} passing, {failed} failing")
