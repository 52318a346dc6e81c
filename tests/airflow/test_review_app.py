"""The review stage inside Airflow: the 08:00 task (dashboard, metrics to Airflow's Stats) and the review
page served by the real api-server app behind Airflow's own authentication."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from unittest import mock

from nightshift.artifacts import ArtifactStore
from nightshift.config import NightshiftConfig
from nightshift.forge.clients import make_gitlab_client
from nightshift.models import TicketState
from nightshift.review.forge import GitLabActivityReader
from standins.fixtures import running_gitlab
from tests.nightshift.review.fixtures import (
    BATCH,
    escalation,
    outcome,
    report,
    secret_flag,
    store_batch,
    ticket,
    view,
)

P = "group/app"


def _hostile_batch():
    return view(
        [
            ticket("P-1", "high", title="Login <script>alert(1)</script>", repository=P),
            ticket("P-2", title='Icon <img src=x onerror="alert(2)">', repository=P),
            ticket("P-3", title="Clean utils", repository=P),
            ticket("P-4", title="Architecture choice"),
            ticket("P-5", title="Waits on P-6"),
        ],
        [
            outcome("P-1"),
            outcome("P-2"),
            outcome("P-3"),
            outcome("P-4", TicketState.ESCALATED),
            outcome("P-5", TicketState.SKIPPED, "dependency P-6 failed"),
        ],
        {"P-1": report(70), "P-2": report(60, flags=[secret_flag("src/icon.py", 7)]), "P-3": report(96)},
        [escalation("P-4", questions=["REST or RPC?"])],
    )


def _run_operator(tmp_path, reader=None):
    from nightshift_airflow.operators.batch import ReviewQueueOperator

    config = NightshiftConfig(artifacts_url=f"file://{tmp_path}", workdir=str(tmp_path / "work"))
    op = ReviewQueueOperator(task_id="review_queue")
    context = {"dag_run": SimpleNamespace(), "params": {"batch_id": BATCH, "dry_run": reader is None}}
    with (
        mock.patch("nightshift.config.cached_config", return_value=config),
        mock.patch.object(ReviewQueueOperator, "_reader", return_value=reader),
        mock.patch("airflow.sdk.observability.stats.gauge") as gauge,
        mock.patch("airflow.sdk.observability.stats.timing") as timing,
        mock.patch("airflow.sdk.observability.stats.incr") as incr,
    ):
        result = op.execute(context)  # type: ignore[arg-type]
    return result, gauge, timing, incr


def test_review_task_writes_the_dashboard_and_emits_gauges(tmp_path) -> None:
    store = ArtifactStore(f"file://{tmp_path}")
    store_batch(store, _hostile_batch())
    result, gauge, timing, incr = _run_operator(tmp_path)
    text = (tmp_path / BATCH / "review" / "dashboard.txt").read_text()
    assert result["dashboard"].endswith("review/dashboard.txt") and "BATCH REVIEW" in text
    assert result["queue"][0].startswith("1. P-2 (1 security") and result["queue"][1].startswith(
        "2. P-1 (2 high"
    )
    gauges = {c.args[0]: c.args[1] for c in gauge.call_args_list}
    assert gauges["nightshift.batch.tickets"] == 5
    assert gauges["nightshift.batch.completion_rate"] == 60.0
    assert gauges["nightshift.batch.escalation_rate"] == 20.0
    assert "nightshift.batch.review_minutes" not in gauges  # nothing reviewed yet: no made-up zero
    assert all(c.kwargs["tags"] == {"batch_id": BATCH} for c in gauge.call_args_list)
    timing.assert_not_called()
    incr.assert_not_called()


def test_review_task_times_each_review_once(tmp_path) -> None:
    with running_gitlab() as server:
        client = make_gitlab_client(server.base_url, server.token)
        client.projects.get(P, lazy=True).branches.create({"branch": "agent/P-1", "ref": "main"})
        mr = client.projects.get(P, lazy=True).mergerequests.create(
            {"source_branch": "agent/P-1", "target_branch": "main", "title": "Draft: P-1"}
        )
        batch = view(
            [ticket("P-1", repository=P)], [outcome("P-1").model_copy(update={"merge_request_iid": mr.iid})]
        )
        store_batch(ArtifactStore(f"file://{tmp_path}"), batch)
        reader = GitLabActivityReader(client)
        _, _, timing, incr = _run_operator(tmp_path, reader)
        timing.assert_not_called()  # not reviewed yet
        server.approve(P, mr.iid, "reviewer")
        _, _, timing, incr = _run_operator(tmp_path, reader)
        [call] = timing.call_args_list
        assert call.args[0] == "nightshift.review.time_per_mr" and isinstance(call.args[1], dt.timedelta)
        incr.assert_called_once_with("nightshift.batch.reviewed", tags={"batch_id": BATCH})
        _, _, timing, incr = _run_operator(tmp_path, reader)  # a re-run measures nothing twice
        timing.assert_not_called()
        incr.assert_not_called()
