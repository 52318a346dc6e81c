"""The pipeline check: a pure mapping of GitLab's status."""

from __future__ import annotations

import pytest

from nightshift.gates.checks.pipeline import pipeline_outcome


def test_success_passes() -> None:
    outcome = pipeline_outcome("success", url="http://gitlab.local/p/-/pipelines/7", waited_s=42)
    assert outcome.result.status == "passed" and outcome.result.duration_s == 42
    assert not outcome.flags


@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_failure_flags(status: str) -> None:
    outcome = pipeline_outcome(status, failed_jobs=["test", "lint"])
    assert outcome.result.status == "failed"
    assert [f.kind for f in outcome.flags] == ["pipeline_failed"]
    assert "test, lint" in outcome.flags[0].message


@pytest.mark.parametrize(
    ("status", "words"),
    [(None, "no pipeline"), ("running", "still running"), ("manual", "manual"), ("weird", "unknown")],
)
def test_no_verdict_is_not_run(status, words) -> None:
    outcome = pipeline_outcome(status, timed_out=status == "running")
    assert outcome.result.status == "not_run" and words in outcome.result.reason
