"""What the review page shows, read through the core's artifact store, plus the Airflow run behind a
batch (for task-log links), read from Airflow's metadata DB."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup
from pydantic import BaseModel

from nightshift import layout
from nightshift.artifacts import ArtifactStore
from nightshift.config import DAG_ID, TICKET_TASK_ID, cached_config
from nightshift.manifest import parse_manifest
from nightshift.models import check_batch_id
from nightshift.review.batch_view import load_batch_view
from nightshift.review.chart import trend_svg
from nightshift.review.links import task_log_url
from nightshift.review.metrics import (
    TARGET_LABELS,
    batch_metrics,
    queue_time,
    read_metrics,
    stored_metrics,
    weekly_trend,
)
from nightshift.review.queue import build_queue

#: A ticket's generation log: one task instance, one log group per step (C0, C1, C2, the MR).
TICKET_LOGS = (("Generation", TICKET_TASK_ID),)


class BatchNotFound(LookupError):
    pass


class BatchSummary(BaseModel):
    batch_id: str
    status: str
    tickets: int


def _store() -> ArtifactStore:
    return ArtifactStore(cached_config().artifacts_url)


def safe_url(url: str | None) -> str | None:
    """Only http(s) links become hrefs; anything else (javascript:, data:) is shown as text or dropped."""
    if not url:
        return None
    return url if urlsplit(url).scheme in ("http", "https") else None


def batch_summaries(limit: int = 60) -> list[BatchSummary]:
    """The batch picker: newest first."""
    store = _store()
    out = []
    for batch_id in reversed(store.batch_ids()):
        text = store.batch(batch_id).read_text(layout.MANIFEST)
        try:
            manifest = parse_manifest(text) if text is not None else None
        except ValueError:
            manifest = None
        if manifest is None:
            continue  # not a batch folder, or a manifest this version cannot read
        out.append(
            BatchSummary(batch_id=batch_id, status=manifest.status.value, tickets=len(manifest.tickets))
        )
        if len(out) >= limit:
            break
    return out


def batch_of_run(dag_id: str, run_id: str) -> str | None:
    """The batch id a DAG run works on: the same rule as the tasks (`batch_id` param, else from the run)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from nightshift_airflow.batch import batch_id_of_run

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is None:
            return None
        conf = run.conf or {}
        return batch_id_of_run(
            run.run_id, run.run_type, run.logical_date or run.run_after, conf.get("batch_id")
        )


def _run_and_map_indexes(batch_id: str) -> tuple[str | None, dict[str, int]]:
    """The run of the batch DAG that worked on `batch_id`, and each ticket's map index in it."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from nightshift_airflow.batch import batch_id_of_run

    with create_session() as session:
        runs = session.scalars(
            select(DagRun).where(DagRun.dag_id == DAG_ID).order_by(DagRun.id.desc()).limit(500)
        )
        run_id = None
        for run in runs:
            conf = run.conf or {}
            found = batch_id_of_run(
                run.run_id, run.run_type, run.logical_date or run.run_after, conf.get("batch_id")
            )
            if found == batch_id:
                run_id = run.run_id
                break
        if run_id is None:
            return None, {}
        tis = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == DAG_ID,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == TICKET_TASK_ID,
            )
        )
        return run_id, {ti.rendered_map_index: ti.map_index for ti in tis if ti.rendered_map_index}


def page_context(batch_id: str, airflow_base: str = "") -> dict[str, Any]:
    try:
        check_batch_id(batch_id)
    except ValueError as exc:
        raise BatchNotFound(str(exc)) from None
    store = _store()
    try:
        view = load_batch_view(store, batch_id)
    except FileNotFoundError as exc:
        raise BatchNotFound(f"no batch {batch_id}") from exc
    queue = build_queue(view)
    artifacts = store.batch(batch_id)
    metrics = read_metrics(artifacts) or batch_metrics(view, queued_at=queue_time(artifacts))
    records = stored_metrics(store)
    if all(m.batch_id != batch_id for m in records):
        records.append(metrics)  # not recorded yet (before its review queue ran): shown with the others
    trend = weekly_trend(records)
    try:
        run_id, indexes = _run_and_map_indexes(batch_id)
    except Exception:  # the page still shows the batch when the metadata DB cannot say which run it was
        run_id, indexes = None, {}

    def logs(ticket_id: str) -> list[tuple[str, str]]:
        if run_id is None or ticket_id not in indexes:
            return []
        return [
            (label, task_log_url(airflow_base, DAG_ID, run_id, task, indexes[ticket_id]))
            for label, task in TICKET_LOGS
        ]

    review_log = task_log_url(airflow_base, DAG_ID, run_id, "review_queue") if run_id else None
    left_out = [
        (t, o) for t, o in view.outcomes.items() if o.state.value in ("failed", "skipped", "carried_over")
    ]
    return {
        "view": view,
        "queue": queue,
        "logs": {item.ticket_id: logs(item.ticket_id) for item in queue},
        "left_out": left_out,
        "metrics": metrics,
        "targets": [(TARGET_LABELS[t.name], t) for t in metrics.targets()],
        "trend": trend,
        "trend_svg": Markup(trend_svg(trend)),  # noqa: S704 - the core escapes every text it draws
        "review_log": review_log,
        "run_id": run_id,
        "safe_url": safe_url,
    }
