"""pipeline: the merge request's GitLab pipeline, mapped to a check result.

Pure: waiting for the pipeline is the Airflow side's job (a deferrable sensor with a timeout); this
module only says what a final (or last seen) status means. `None` (no pipeline for the commit) is
not_run, never passed; a pipeline still running when the wait ended is not_run too.
"""

from __future__ import annotations

from nightshift.gates.checks import CheckOutcome, flagged
from nightshift.gates.report import CheckResult, Flag

NAME = "pipeline"
PASSED = frozenset({"success"})
FAILED = frozenset({"failed", "canceled", "cancelled"})
#: Statuses that say nothing about the code: no verdict.
NO_VERDICT = frozenset({"skipped", "manual", "scheduled"})
RUNNING = frozenset({"created", "waiting_for_resource", "preparing", "pending", "running", "canceling"})


def pipeline_outcome(
    status: str | None,
    *,
    url: str | None = None,
    waited_s: float = 0.0,
    timed_out: bool = False,
    failed_jobs: list[str] | None = None,
) -> CheckOutcome:
    where = f" ({url})" if url else ""
    details: dict[str, int | float | str | bool | None] = {"status": status, "url": url}
    if status is None:
        outcome = CheckOutcome.not_run(NAME, "the project has no pipeline for this commit")
    elif status in PASSED:
        outcome = flagged(NAME, [], f"pipeline succeeded{where}", **details)
    elif status in FAILED:
        jobs = f": {', '.join(failed_jobs[:10])}" if failed_jobs else ""
        flag = Flag(kind="pipeline_failed", message=f"pipeline {status}{jobs}{where}"[:300])
        outcome = flagged(NAME, [flag], flag.message, **details)
    elif status in RUNNING or timed_out:
        outcome = CheckOutcome.not_run(NAME, f"pipeline still {status} after waiting {waited_s:.0f}s{where}")
    elif status in NO_VERDICT:
        outcome = CheckOutcome.not_run(NAME, f"pipeline {status}{where}")
    else:
        outcome = CheckOutcome.not_run(NAME, f"unknown pipeline status {status!r}{where}")
    outcome.result = CheckResult.model_validate(
        {**outcome.result.model_dump(), "duration_s": round(waited_s, 3), "details": details}
    )
    return outcome
