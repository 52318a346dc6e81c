"""The gates' Airflow side: the pipeline trigger (only reads; serialise round-trip; success, none,
timeout) against the GitLab stand-in, and the DAG's gates wiring."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from nightshift.gates.stage import pipeline_check
from nightshift.trackers.clients.gitlab import make_gitlab_client
from nightshift_airflow.triggers.pipeline import PipelineTrigger, pipeline_event
from standins.fixtures import running_gitlab
from standins.gitlab import GitLabStandin

P = "group/app"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def mr(monkeypatch) -> Iterator[tuple[GitLabStandin, int, str]]:
    with running_gitlab() as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_GITLAB_DEFAULT",
            json.dumps({"conn_type": "gitlab", "host": server.base_url, "password": server.token}),
        )
        project = make_gitlab_client(server.base_url, server.token).projects.get(P)
        project.branches.create({"branch": "agent/PROJ-1", "ref": "main"})
        created = project.mergerequests.create(
            {"source_branch": "agent/PROJ-1", "target_branch": "main", "title": "Draft: PROJ-1"}
        )
        yield server, int(created.iid), str(created.sha)


def trigger(iid: int, sha: str, minutes: float = 5) -> PipelineTrigger:
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()
    return PipelineTrigger("gitlab_default", P, iid, sha, deadline, poll_seconds=0.01)


def first_event(t: PipelineTrigger) -> dict:
    async def run() -> dict:
        async for event in t.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(run(), timeout=60))


def test_serialize_round_trips():
    t = trigger(3, "a" * 40)
    path, kwargs = t.serialize()
    assert path == "nightshift_airflow.triggers.pipeline.PipelineTrigger"
    again = PipelineTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)
    json.dumps(kwargs)  # stored in the metadata DB as JSON


def test_waits_for_a_running_pipeline_to_finish(mr):
    server, iid, sha = mr
    server.script_pipeline(P, sha, ["created", "pending", "running", "running", "success"])
    writes = len(server.requests("POST")) + len(server.requests("PUT"))
    event = first_event(trigger(iid, sha))
    assert event["status"] == "success" and event["pipeline_id"] and event["web_url"]
    assert len(server.requests("GET", r"/merge_requests/\d+/pipelines")) >= 4, "it polled until the end"
    assert len(server.requests("POST")) + len(server.requests("PUT")) == writes, "a trigger only reads"
    check = pipeline_check(event, 30)
    assert check.status == "passed" and check.details["waited_s"] == event["waited_s"] > 0


def test_no_pipeline_is_not_run_at_once(mr):
    _, iid, sha = mr
    event = first_event(trigger(iid, sha))
    assert event["status"] is None and set(event) == {"status", "waited_s"}
    assert (pipeline_check(event, 30).status, pipeline_check(event, 30).reason) == (
        "not_run",
        "no pipeline for the MR head",
    )


def test_a_pipeline_that_does_not_finish_in_time_is_not_run_with_the_reason(mr):
    server, iid, sha = mr
    server.script_pipeline(P, sha, ["running"])
    event = first_event(trigger(iid, sha, minutes=-1))
    assert event["timed_out"] is True and event["status"] == "running"
    check = pipeline_check(event, 45)
    assert (check.status, check.reason) == (
        "not_run",
        "pipeline did not finish in 45 min (last status: running)",
    )


def test_a_pipeline_of_an_older_commit_does_not_count():
    old = [{"id": 2, "sha": "b" * 40, "status": "failed"}]
    assert pipeline_event(old, "a" * 40) == {"status": None}
    both = [{"id": 3, "sha": "a" * 40, "status": "running"}, *old]
    assert pipeline_event(both, "a" * 40) is None


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag.dags["nightshift_nightly_batch"]


def test_gates_are_a_mapped_group_after_the_window_and_the_review_queue_runs_anyway(dag):
    assert dag.get_task("gate_tickets").upstream_task_ids == {"wait_gates_window"}
    wait, check = dag.get_task("gates.pipeline"), dag.get_task("gates.check")
    assert "gate_tickets" in wait.upstream_task_ids and "gates.pipeline" in check.upstream_task_ids
    assert check.pool == "nightshift_agents" and check.trigger_rule == "all_done"
    assert wait.pool != "nightshift_agents"
    assert wait.map_index_template == check.map_index_template == "{{ task.ticket_id }}"
    review_window = dag.get_task("wait_review_window")
    assert review_window.upstream_task_ids == {"gates.check"} and review_window.trigger_rule == "all_done"
    assert "gates" not in dag.task_ids, "the placeholder task is gone"
