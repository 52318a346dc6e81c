"""Stage 4 (08:00) in one call: the queue, the dashboard, the metrics, and earlier batches' reviews.

The Airflow task calls `prepare_review` and only adds the task log and Airflow's metrics around it.
Every write is a whole record (safe to repeat): the queue time keeps its first value, the metrics and
the dashboard are rewritten.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

from nightshift.artifacts import ArtifactStore
from nightshift.review.batch_view import load_batch_view
from nightshift.review.dashboard import render_dashboard
from nightshift.review.forge import ActivityReader
from nightshift.review.metrics import BatchMetrics, WeekTrend, record_queue_time, stored_metrics, weekly_trend
from nightshift.review.queue import QueueItem, build_queue
from nightshift.review.status import Refresh, refresh_batch, refresh_pending_batches

DASHBOARD = "review/dashboard.txt"


class MorningReview(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    batch_id: str
    dashboard: str
    dashboard_url: str
    queue: list[QueueItem]
    metrics: BatchMetrics
    trend: list[WeekTrend]
    #: This batch's refresh first, then every earlier batch still waiting for its reviews.
    refreshes: list[Refresh]


def prepare_review(
    store: ArtifactStore, batch_id: str, reader: ActivityReader | None, now: dt.datetime | None = None
) -> MorningReview:
    artifacts = store.batch(batch_id)
    record_queue_time(artifacts, now)
    current = refresh_batch(store, batch_id, reader, now)
    earlier = refresh_pending_batches(store, reader, skip=batch_id, now=now)
    view = load_batch_view(store, batch_id)
    queue = build_queue(view)
    trend = weekly_trend(stored_metrics(store))
    text = render_dashboard(view, queue, current.metrics, trend)
    url = artifacts.write_text(DASHBOARD, text + "\n")
    return MorningReview(
        batch_id=batch_id,
        dashboard=text,
        dashboard_url=url,
        queue=queue,
        metrics=current.metrics,
        trend=trend,
        refreshes=[current, *earlier],
    )
