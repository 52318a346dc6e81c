"""PipelineSensor on its own, on the real gate context (configuration, artifacts, GitLab connection) and the
GitLab stand-in's merge requests and scripted pipelines: it translates the stage's answers into a skip,
an immediate check, or a deferral to PipelineTrigger, and saves what the wait saw as the pipeline check."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred

from nightshift.gates.report import CheckResult
from nightshift.generation.state import PushRecord, TicketOutcome
from nightshift.layout import gate_pipeline
from nightshift.models import ManifestTicket, TicketState
from nightshift.trackers.clients.gitlab import make_gitlab_client
from nightshift_airflow.sensors.pipeline import PipelineSensor
from nightshift_airflow.triggers.pipeline import PipelineTrigger
from tests.airflow.night import BATCH, CONN_ID, PROJECT, TRUNK, Deployment

TICKET = "P-1"


def publish(night: Deployment, *, with_mr: bool = True) -> str:
    """What generation leaves for a published ticket: agent/P-1 on the forge, its draft MR, the push
    record and the completed outcome (with the MR's iid unless `with_mr` is False). Returns the head."""
    project = make_gitlab_client(night.server.base_url, night.server.token).projects.get(PROJECT)
    project.branches.create({"branch": f"agent/{TICKET}", "ref": TRUNK})
    mr = project.mergerequests.create(
        {"source_branch": f"agent/{TICKET}", "target_branch": TRUNK, "title": f"Draft: {TICKET}"}
    )
    sha = str(mr.sha)
    night.write_manifest(ManifestTicket(id=TICKET, repository=PROJECT))
    night.state.save_push(
        PushRecord(
            ticket_id=TICKET, branch=f"agent/{TICKET}", sha=sha, base_branch=TRUNK,
            checkpoint_trailer="C2-complete",
        )
    )
    night.state.save_outcome(
        TicketOutcome(
            ticket_id=TICKET, batch_id=BATCH, state=TicketState.COMPLETED,
            merge_request_iid=int(mr.iid) if with_mr else None,
            merge_request_url=str(mr.web_url),
        )
    )
    return sha


def saved_check(night: Deployment) -> CheckResult | None:
    return night.artifacts.read_model(gate_pipeline(TICKET), CheckResult)


def sensor(timeout_minutes: float = 30.0) -> PipelineSensor:
    return PipelineSensor(
        task_id="pipeline", ticket_id=TICKET, timeout_minutes=timeout_minutes, poll_seconds=0.01
    )


def first_event(trigger: PipelineTrigger) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(run(), timeout=60))


def test_no_merge_request_on_record_skips_with_the_stages_reason(gitlab_night):
    publish(gitlab_night, with_mr=False)
    with pytest.raises(AirflowSkipException, match=f"^{TICKET}: no merge request on record$"):
        sensor().execute(gitlab_night.context())
    assert saved_check(gitlab_night) is None


def test_a_pipeline_finished_at_the_first_look_is_checked_without_deferring(gitlab_night):
    sha = publish(gitlab_night)
    pipeline = gitlab_night.server.script_pipeline(PROJECT, sha, ["failed"])
    result = sensor().execute(gitlab_night.context())  # returns: no TaskDeferred
    assert (result["status"], result["reason"]) == ("failed", "pipeline failed")
    saved = saved_check(gitlab_night)
    assert saved is not None and saved.model_dump() == result
    assert saved.details["pipeline_id"] == pipeline["id"] and saved.details["waited_s"] == 0.0


def test_a_running_pipeline_defers_to_the_trigger_until_its_deadline(gitlab_night):
    sha = publish(gitlab_night)
    gitlab_night.server.script_pipeline(PROJECT, sha, ["running", "running", "running", "success"])
    mr_iid = gitlab_night.state.outcome(TICKET).merge_request_iid
    before = dt.datetime.now(dt.UTC)
    with pytest.raises(TaskDeferred) as deferred:
        sensor(timeout_minutes=45).execute(gitlab_night.context())
    after = dt.datetime.now(dt.UTC)
    trigger = deferred.value.trigger
    assert isinstance(trigger, PipelineTrigger) and deferred.value.method_name == "execute_complete"
    assert trigger.poll_seconds == 0.01
    assert (trigger.gitlab_conn_id, trigger.project, trigger.mr_iid, trigger.sha) == (CONN_ID, PROJECT, mr_iid, sha)
    deadline = dt.datetime.fromisoformat(trigger.deadline)
    assert before + dt.timedelta(minutes=45) <= deadline <= after + dt.timedelta(minutes=45)
    assert saved_check(gitlab_night) is None, "nothing is recorded while the pipeline runs"

    # What the triggerer does next: wait for the pipeline, then resume the task with the event.
    event = first_event(trigger)
    result = sensor(timeout_minutes=45).execute_complete(gitlab_night.context(), event)
    assert result["status"] == "passed" and saved_check(gitlab_night).status == "passed"


def test_resuming_without_an_event_records_not_run(gitlab_night):
    publish(gitlab_night)
    result = sensor().execute_complete(gitlab_night.context(), None)
    assert (result["status"], result["reason"]) == ("not_run", "no pipeline for the MR head")
    assert saved_check(gitlab_night) == CheckResult.model_validate(result)
