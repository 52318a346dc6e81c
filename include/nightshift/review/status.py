"""When a batch is `reviewed`, and the review times that go with it.

A completed batch becomes `reviewed` when every merge request in it is approved, merged or closed on
the forge (a batch that produced no MR has nothing to review, so it is reviewed once its queue ran).
Nobody calls "I am done" explicitly: the review queue of each later batch (08:00) re-reads the MRs of
every batch still `completed`, rewrites their metrics record with the review times seen so far, and
moves the manifest to `reviewed` when the last MR is done. An aborted batch keeps its status.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from nightshift.artifacts import ArtifactStore
from nightshift.manifest import dump_manifest
from nightshift.models import BatchStatus, transition_batch
from nightshift.review.batch_view import load_batch_view
from nightshift.review.forge import ActivityReader
from nightshift.review.metrics import (
    BatchMetrics,
    MergeRequestActivity,
    batch_metrics,
    queue_time,
    read_metrics,
    save_metrics,
)
from nightshift.review.queue import MR_STATES
from nightshift.trackers.base import TrackerError


class Refresh(BaseModel):
    """What one refresh of one batch found."""

    batch_id: str
    metrics: BatchMetrics
    previous: BatchMetrics | None = None
    became_reviewed: bool = False
    problems: list[str] = Field(default_factory=list)

    def new_review_times(self) -> list[float]:
        """Review times measured in this refresh only (a timer metric must not count one MR twice)."""
        seen = {
            r.ticket_id
            for r in (self.previous.review_times if self.previous else [])
            if r.minutes is not None
        }
        return [
            m for r in self.metrics.review_times if (m := r.minutes) is not None and r.ticket_id not in seen
        ]


def refresh_batch(
    store: ArtifactStore, batch_id: str, reader: ActivityReader | None, now: dt.datetime | None = None
) -> Refresh:
    """Recompute a batch's metrics from its records and the forge; mark it reviewed when it is."""
    now = now or dt.datetime.now(dt.UTC)
    artifacts = store.batch(batch_id)
    view = load_batch_view(store, batch_id, with_answers=False)
    activities: dict[str, MergeRequestActivity] = {}
    problems: list[str] = []
    mrs = {t: o for t, o in view.outcomes.items() if o.state in MR_STATES and not o.dry_run}
    for ticket_id, outcome in mrs.items():
        entry = view.ticket(ticket_id)
        project = entry.repository if entry is not None else None
        if reader is None or outcome.merge_request_iid is None or not project:
            problems.append(f"{ticket_id}: no forge, project or MR iid to read the review from")
            continue
        try:
            activities[ticket_id] = reader.activity(project, outcome.merge_request_iid)
        except TrackerError as exc:
            problems.append(f"{ticket_id}: {exc}")
    previous = read_metrics(artifacts)
    metrics = batch_metrics(view, queued_at=queue_time(artifacts), activities=activities, now=now)
    reviewed = (
        view.manifest.status == BatchStatus.COMPLETED
        and not problems
        and len(activities) == len(mrs)
        and all(a.done for a in activities.values())
    )
    if reviewed:
        view.manifest.status = transition_batch(view.manifest.status, BatchStatus.REVIEWED)
        artifacts.write_text("manifest.yaml", dump_manifest(view.manifest))
        metrics.status = BatchStatus.REVIEWED.value
    save_metrics(artifacts, metrics)
    return Refresh(
        batch_id=batch_id, metrics=metrics, previous=previous, became_reviewed=reviewed, problems=problems
    )


def refresh_pending_batches(
    store: ArtifactStore,
    reader: ActivityReader | None,
    skip: str | None = None,
    now: dt.datetime | None = None,
) -> list[Refresh]:
    """Every other batch still `completed`: its reviews are gathered as they happen, until it is reviewed."""
    out = []
    for batch_id in store.batch_ids():
        if batch_id == skip:
            continue
        try:
            view = load_batch_view(store, batch_id, with_answers=False)
        except (FileNotFoundError, ValueError):
            continue  # not a batch folder, or a manifest this version cannot read: left alone
        if view.manifest.status == BatchStatus.COMPLETED:
            out.append(refresh_batch(store, batch_id, reader, now))
    return out
