"""End-to-end gates: the demo batch under the real scheduler and triggerer, then what GitLab shows.

After the batch, each MR that came out of it has exactly one score note (breakdown and links), one
`nightshift/gates` commit status on its head and one score label, as the stored gate report says.
Clearing the gates tasks adds nothing; a pipeline that is still running is waited for in the triggerer.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from nightshift.gates.report import load_report
from nightshift_local.demo import PROJECT, DemoEnvironment
from tests.e2e.conftest import DEMO_BATCH as BATCH
from tests.e2e.conftest import TIMEOUT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]  # the first test also starts the stack and runs the night

GATED = ["DEMO-1", "DEMO-2", "CALC-2", "DEMO-5", "OPS-1"]  # completed or partial, with a draft MR
GATES_TASKS = ["gate_tickets", "gates.pipeline", "gates.check"]


@pytest.fixture(scope="module")
def env(demo_env: DemoEnvironment) -> DemoEnvironment:
    return demo_env


@pytest.fixture(scope="module")
def batch(shared_demo_batch: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": shared_demo_batch["run_id"], "state": shared_demo_batch["state"],
            "dir": shared_demo_batch["batch"]}


def gitlab_view(env: DemoEnvironment) -> dict[str, dict[str, Any]]:
    """Per MR source branch of this batch: its gate notes, its nightshift/gates statuses, its labels.
    Other modules on the shared stack run their own batches (test_nightly_batch's kill test publishes
    agent/DEMO-6 in its batch): an MR last published by another batch is not this night's."""
    out = {}
    for mr in env.merge_requests():
        if f"Nightshift batch `{BATCH}`" not in (mr.get("description") or ""):
            continue
        notes = [n for n in env.gitlab.notes(PROJECT, mr_iid=mr["iid"]) if "kind=gates" in n]
        statuses = [
            s for s in env.gitlab.commit_statuses(PROJECT, mr["sha"]) if s["name"] == "nightshift/gates"
        ]
        out[mr["source_branch"]] = {"mr": mr, "notes": notes, "statuses": statuses, "labels": mr["labels"]}
    return out


def ticket_comments(env: DemoEnvironment) -> int:
    return sum(
        1
        for issue in env.gitlab.issues(PROJECT)
        for note in env.gitlab.notes(PROJECT, issue_iid=issue["iid"])
        if "kind=gates" in note
    )


def clear_gates(env: DemoEnvironment, run_id: str) -> None:
    env.stack.api(
        "POST",
        "/dags/nightshift_nightly_batch/clearTaskInstances",
        json={
            "dry_run": False,
            "dag_run_id": run_id,
            "only_failed": False,
            "reset_dag_runs": True,
            "task_ids": GATES_TASKS,
        },
    )
    time.sleep(3)
    assert env.stack.wait_for_run(run_id, timeout=TIMEOUT) == "success"


def test_each_mr_has_one_score_note_one_status_and_its_labels(batch, env):
    assert batch["state"] == "success"
    reports = {t: load_report((batch["dir"] / "tickets" / t / "gates.json").read_text()) for t in GATED}
    for ticket, report in reports.items():
        print(
            f"\n{ticket}: score {report.score} ({report.band()}), capped by {report.capped_by}, flags "
            f"{[(f.kind, f.rule, f.where()) for f in report.flags]}"
        )
    view = gitlab_view(env)
    assert sorted(view) == sorted(f"agent/{t}" for t in GATED)
    for ticket, report in reports.items():
        seen = view[f"agent/{ticket}"]
        assert len(seen["notes"]) == 1, f"{ticket}: {len(seen['notes'])} gate notes"
        note = seen["notes"][0]
        assert f"**Score: {report.score}/100** ({report.band()})" in note
        assert "### Checks" in note and "| check | result | points | reason |" in note  # the breakdown
        assert f"/nightshift/batches/{BATCH}#ticket-{ticket}" in note  # review page link
        assert "/tasks/ticket/mapped/" in note  # the ticket's generation log
        assert len(seen["statuses"]) == 1 and seen["statuses"][0]["target_url"].endswith(f"#ticket-{ticket}")
        assert [lb for lb in seen["labels"] if lb.startswith("nightshift-score::")] == [
            f"nightshift-score::{report.band()}"
        ]
        assert ("nightshift::security" in seen["labels"]) == bool(report.security_flags)
        assert report.head == seen["mr"]["sha"]
    assert reports["DEMO-1"].flags == [] and reports["DEMO-1"].band() == "high"
    calc2 = reports["CALC-2"]
    assert {f.kind for f in calc2.security_flags} == {"security"} and calc2.score < reports["DEMO-1"].score
    assert any("B307" in (f.rule or "") and f.file == "src/calc/ops.py" for f in calc2.security_flags)
    # the GitLab-issue tickets got one comment each with the MR link and the score
    assert ticket_comments(env) == 1  # CALC-2 is the only gated ticket tracked in GitLab issues


def test_clearing_the_gates_tasks_adds_nothing(batch, env):
    before = gitlab_view(env)
    comments = ticket_comments(env)
    clear_gates(env, batch["run_id"])
    after = gitlab_view(env)
    for branch, seen in before.items():
        assert len(after[branch]["notes"]) == 1
        assert after[branch]["statuses"] == seen["statuses"], f"{branch}: a status was posted again"
        assert sorted(after[branch]["labels"]) == sorted(seen["labels"])
    assert ticket_comments(env) == comments


def test_a_running_pipeline_is_waited_for_in_the_triggerer(batch, env):
    mr = gitlab_view(env)["agent/DEMO-1"]["mr"]
    # Every pipeline read of the project moves it on: enough "running" steps that the first look (in
    # the worker, after the other MRs' looks) still sees it running and defers to the triggerer.
    env.gitlab.script_pipeline(PROJECT, mr["sha"], ["running"] * 10 + ["success"], ref="agent/DEMO-1")
    clear_gates(env, batch["run_id"])
    tis = [t for t in env.stack.task_instances(batch["run_id"]) if t["task_id"] == "gates.pipeline"]
    demo1 = next(t for t in tis if t.get("rendered_map_index") == "DEMO-1")
    assert demo1["state"] == "success"
    report = load_report((batch["dir"] / "tickets" / "DEMO-1" / "gates.json").read_text())
    pipeline = next(c for c in report.checks if c.name == "pipeline")
    assert pipeline.status == "passed", pipeline.reason
    assert pipeline.details["waited_s"] > 0, "the result came from the triggerer"
    view = gitlab_view(env)["agent/DEMO-1"]
    assert len(view["notes"]) == 1 and "pipeline" in view["notes"][0]
    recorded = json.loads((batch["dir"] / "tickets" / "DEMO-1" / "gates-pipeline.json").read_text())
    assert recorded["status"] == "passed"
