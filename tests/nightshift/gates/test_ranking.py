"""The ranking test: on a small realistic repository (tests/nightshift/gates/ranking/), eight real
changes written as a developer would, and eight defective variants of each (failing tests, a deleted
test, a newly skipped test, shell injection, a leaked token, an edit far outside the ticket's scope, a
CI configuration change, an empty change that claims success).

- every good change scores above every defective variant of the same change;
- every defective variant carries the flag that names its defect;
- good changes get no flags.

All 72 gate runs are real: the repository's pytest suite runs in the sandbox with the network off,
ruff, bandit and the fence's detect-secrets run on the real diffs. semgrep is off here (its start-up
would triple the runtime; its rules have their own passing and failing tests in test_check_security.py),
so the shell injection must be caught by bandit alone.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nightshift.gates.config import GatesConfig
from nightshift.gates.report import GateReport
from nightshift.gates.run import run_gates
from tests.nightshift.gates.ranking.build import DEFECTS, build, ticket_of
from tests.nightshift.gates.ranking.changes import CHANGES

IDS = [c.ticket_id for c in CHANGES]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory, toolchain: Path) -> dict[tuple[str, str], GateReport]:
    repo = tmp_path_factory.mktemp("ranking") / "inventory"
    base, commits = build(repo)
    config = GatesConfig.model_validate(
        {"security": {"semgrep": False}}
    )  # tests come from .nightshift/gates.yaml
    tickets = {c.ticket_id: ticket_of(c) for c in CHANGES}

    def judge(key: tuple[str, str]) -> GateReport:
        return run_gates(
            repo, base, commits[key], tickets[key[0]], config, toolchain=toolchain, claimed_success=True
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(commits, pool.map(judge, commits), strict=True))


def _describe(report: GateReport) -> str:
    checks = ", ".join(f"{c.name}={c.status}" for c in report.checks)
    return f"score {report.score} [{checks}] flags {[(f.kind, f.where()) for f in report.flags]}"


@pytest.mark.parametrize("ticket", IDS)
def test_good_change_has_no_flags_and_every_check_that_ran_passed(reports, ticket) -> None:
    report = reports[(ticket, "good")]
    assert report.flags == [], _describe(report)
    assert {c.name for c in report.checks if c.status != "passed"} == {"pipeline"}, _describe(report)
    assert report.checks_counted == 6


@pytest.mark.parametrize("ticket", IDS)
@pytest.mark.parametrize("defect", list(DEFECTS))
def test_defective_variant_carries_the_flag_naming_its_defect(reports, ticket, defect) -> None:
    report = reports[(ticket, defect)]
    expected = DEFECTS[defect][1]
    assert expected in {f.kind for f in report.flags}, _describe(report)


@pytest.mark.parametrize("ticket", IDS)
def test_good_change_scores_above_every_defective_variant(reports, ticket) -> None:
    good = reports[(ticket, "good")].score
    below = {defect: reports[(ticket, defect)].score for defect in DEFECTS}
    assert all(score < good for score in below.values()), (good, below)


def test_security_class_defects_are_capped_low(reports) -> None:
    """Defects a reviewer must never merge by accident land in the low band whatever else passed."""
    for ticket in IDS:
        for defect in ("leaked_token", "shell_injection", "ci_change", "empty_change"):
            assert reports[(ticket, defect)].band() == "low", (
                ticket,
                defect,
                _describe(reports[(ticket, defect)]),
            )
