"""Batch metrics against the specification's targets, review time per MR, and week-over-week trends.

One record per batch, `review/metrics.json` in the batch folder, rewritten whole whenever it is
recomputed (the review queue of the batch, and every later refresh until the batch is reviewed). The
trend reads those records across the store, so no separate history needs to be kept.

Definitions (the README repeats them):
- completion rate: tickets with an MR (completed or partial) / tickets in the manifest;
- average quality score: mean gate score over the MRs that have a gate report (unscored MRs are not
  counted as zero; `scored` says how many the mean rests on);
- escalation rate: escalated tickets / tickets in the manifest;
- review time per MR: from the later of the 08:00 queue and the MR becoming ready (leaving draft), to
  the first human approval, human note or merge; mean over the MRs reviewed so far.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field

from nightshift import layout
from nightshift.artifacts import ArtifactStore, BatchArtifacts
from nightshift.models import TicketState
from nightshift.review.batch_view import BatchView

METRICS_RECORD = layout.REVIEW_METRICS
QUEUE_RECORD = layout.REVIEW_QUEUE


class Target(BaseModel):
    name: str
    value: float | None
    target: float
    comparison: Literal[">", "<"]
    unit: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value > self.target if self.comparison == ">" else self.value < self.target

    def shown(self, value: float | None = None) -> str:
        v = self.value if value is None else value
        if v is None:
            return "n/a"
        return f"{v:.0f}{self.unit}" if self.unit != " min" else f"{v:.1f}{self.unit}"

    @property
    def goal(self) -> str:
        return f"{self.comparison} {self.target:g}{self.unit}"


#: The targets issue 11 sets (the spec's table, with escalations < 15 %).
TARGETS = {
    "completion_rate": (80.0, ">", "%"),
    "average_score": (85.0, ">", ""),
    "escalation_rate": (15.0, "<", "%"),
    "review_minutes": (15.0, "<", " min"),
}


def _percent(part: int, whole: int) -> float | None:
    """One rule for every rate of the batch and the trend: no tickets, no rate (not 0 %)."""
    return 100.0 * part / whole if whole else None


def _mean(values: list[int] | list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class _SpecRates:
    """The spec's three ticket-based rates, spelled once for a batch and for a week of batches."""

    tickets: int
    escalated: int
    scores: list[int]

    def _tickets_with_mr(self) -> int:
        raise NotImplementedError

    @property
    def completion_rate(self) -> float | None:
        return _percent(self._tickets_with_mr(), self.tickets)

    @property
    def average_score(self) -> float | None:
        return _mean(self.scores)

    @property
    def escalation_rate(self) -> float | None:
        return _percent(self.escalated, self.tickets)


class ReviewTime(BaseModel):
    """One MR's review: when the clock started and what stopped it (None: not reviewed yet)."""

    ticket_id: str
    merge_request_url: str | None = None
    started_at: dt.datetime
    reviewed_at: dt.datetime | None = None
    event: Literal["approval", "note", "merge"] | None = None
    by: str | None = None
    #: Approved, merged or closed: nothing left for a reviewer.
    done: bool = False

    @property
    def minutes(self) -> float | None:
        if self.reviewed_at is None:
            return None
        return max(0.0, (self.reviewed_at - self.started_at).total_seconds() / 60)


class BatchMetrics(_SpecRates, BaseModel):
    """The metrics record of one batch."""

    batch_id: str
    created_at: str
    computed_at: dt.datetime
    status: str
    tickets: int
    completed: int = 0
    partial: int = 0
    escalated: int = 0
    failed: int = 0
    skipped: int = 0
    carried_over: int = 0
    scores: list[int] = Field(default_factory=list)
    merge_requests: int = 0
    review_times: list[ReviewTime] = Field(default_factory=list)

    @property
    def with_mr(self) -> int:
        return self.completed + self.partial

    def _tickets_with_mr(self) -> int:
        return self.with_mr

    @property
    def reviewed_minutes(self) -> list[float]:
        return [m for r in self.review_times if (m := r.minutes) is not None]

    @property
    def review_minutes(self) -> float | None:
        return _mean(self.reviewed_minutes)

    @property
    def all_reviewed(self) -> bool:
        return all(r.done for r in self.review_times)

    def targets(self) -> list[Target]:
        values = {
            "completion_rate": self.completion_rate,
            "average_score": self.average_score,
            "escalation_rate": self.escalation_rate,
            "review_minutes": self.review_minutes,
        }
        return [
            Target(name=name, value=values[name], target=t, comparison=c, unit=u)  # type: ignore[arg-type]
            for name, (t, c, u) in TARGETS.items()
        ]


TARGET_LABELS = {
    "completion_rate": "Completion rate",
    "average_score": "Average quality score",
    "escalation_rate": "Escalation rate",
    "review_minutes": "Review time per MR",
}


class MergeRequestActivity(BaseModel):
    """What the forge says about one MR, in the terms review time needs."""

    state: str  # opened, merged, closed
    web_url: str | None = None
    created_at: dt.datetime
    ready_at: dt.datetime | None = None
    draft: bool = False
    approvals: list[tuple[str, dt.datetime]] = Field(default_factory=list)
    #: Notes by humans only (the reader drops system notes and the bot's own notes).
    notes: list[tuple[str, dt.datetime]] = Field(default_factory=list)
    merged_at: dt.datetime | None = None
    merged_by: str | None = None

    @property
    def done(self) -> bool:
        return self.state in ("merged", "closed") or bool(self.approvals)

    def first_review(self, after: dt.datetime) -> tuple[dt.datetime, str, str] | None:
        """The first human event at or after `after`. Notes before it (on the draft, before the queue)
        do not count; an approval or merge before it means the MR was reviewed before the clock started
        (its review time is then 0)."""
        done = [(at, "approval", who) for who, at in self.approvals]
        if self.merged_at is not None:
            done.append((self.merged_at, "merge", self.merged_by or ""))
        events = sorted(e for e in [*done, *((at, "note", who) for who, at in self.notes)] if e[0] >= after)
        if events:
            return events[0]
        return min(done) if done else None


def review_time(ticket_id: str, activity: MergeRequestActivity, queued_at: dt.datetime | None) -> ReviewTime:
    starts = [t for t in (queued_at, activity.ready_at) if t is not None]
    start = max(starts) if starts else activity.created_at
    first = activity.first_review(start)
    return ReviewTime(
        ticket_id=ticket_id,
        merge_request_url=activity.web_url,
        started_at=start,
        reviewed_at=first[0] if first else None,
        event=first[1] if first else None,  # type: ignore[arg-type]
        by=first[2] if first else None,
        done=activity.done,
    )


def batch_metrics(
    view: BatchView,
    *,
    queued_at: dt.datetime | None = None,
    activities: dict[str, MergeRequestActivity] | None = None,
    now: dt.datetime | None = None,
) -> BatchMetrics:
    states = [o.state for o in view.outcomes.values()]
    mrs = [t for t, o in view.outcomes.items() if o.state in (TicketState.COMPLETED, TicketState.PARTIAL)]
    escalated = {t for t, o in view.outcomes.items() if o.state == TicketState.ESCALATED}
    escalated |= {e.ticket_id for e in view.escalations}
    activities = activities or {}
    return BatchMetrics(
        batch_id=view.batch_id,
        created_at=view.manifest.created_at,
        computed_at=now or dt.datetime.now(dt.UTC),
        status=view.manifest.status.value,
        tickets=len(view.manifest.tickets),
        completed=states.count(TicketState.COMPLETED),
        partial=states.count(TicketState.PARTIAL),
        escalated=len(escalated),
        failed=states.count(TicketState.FAILED),
        skipped=states.count(TicketState.SKIPPED),
        carried_over=states.count(TicketState.CARRIED_OVER),
        scores=[view.reports[t].score for t in mrs if t in view.reports],
        merge_requests=len(mrs),
        review_times=[review_time(t, activities[t], queued_at) for t in mrs if t in activities],
    )


# --- records ---------------------------------------------------------------------------------------
class QueueRecord(BaseModel):
    """When the morning queue was first ready (the review clock's start); re-runs keep the first."""

    batch_id: str
    queued_at: dt.datetime


def record_queue_time(artifacts: BatchArtifacts, now: dt.datetime | None = None) -> QueueRecord:
    existing = artifacts.read_model(QUEUE_RECORD, QueueRecord)
    if existing is not None:
        return existing
    record = QueueRecord(batch_id=artifacts.batch_id, queued_at=now or dt.datetime.now(dt.UTC))
    artifacts.write_model(QUEUE_RECORD, record)
    return record


def queue_time(artifacts: BatchArtifacts) -> dt.datetime | None:
    record = artifacts.read_model(QUEUE_RECORD, QueueRecord)
    return record.queued_at if record is not None else None


def save_metrics(artifacts: BatchArtifacts, metrics: BatchMetrics) -> None:
    artifacts.write_model(METRICS_RECORD, metrics)


def read_metrics(artifacts: BatchArtifacts) -> BatchMetrics | None:
    try:
        return artifacts.read_model(METRICS_RECORD, BatchMetrics)
    except ValueError:
        return None  # an unreadable record leaves the batch out of the trend, it does not break it


def stored_metrics(store: ArtifactStore) -> list[BatchMetrics]:
    """Every batch's metrics record, oldest batch first."""
    found = (read_metrics(store.batch(b)) for b in store.batch_ids())
    return [m for m in found if m is not None]


# --- trends ----------------------------------------------------------------------------------------
class WeekTrend(_SpecRates, BaseModel):
    """The spec's Trend Tracking line: one ISO week of batches."""

    week: str  # 2026-W48
    batches: int
    tickets: int
    with_mr: int
    escalated: int
    scores: list[int] = Field(default_factory=list)
    review_minutes: list[float] = Field(default_factory=list)

    def _tickets_with_mr(self) -> int:
        return self.with_mr

    @property
    def average_review_minutes(self) -> float | None:
        return _mean(self.review_minutes)

    def line(self) -> str:
        completion = f"{self.completion_rate:.0f}%" if self.completion_rate is not None else "n/a"
        score = f"{self.average_score:.0f}" if self.average_score is not None else "n/a"
        return f"Week {self.week}: {self.tickets} tickets, {completion} completion, avg score {score}"


def _week(created_at: str) -> str:
    day = dt.datetime.fromisoformat(created_at.replace("Z", "+00:00")).date()
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def weekly_trend(records: Iterable[BatchMetrics]) -> list[WeekTrend]:
    """Batches grouped by the ISO week of their manifest's created_at; rates are over the week's tickets."""
    weeks: dict[str, WeekTrend] = {}
    for m in records:
        key = _week(m.created_at)
        w = weeks.setdefault(key, WeekTrend(week=key, batches=0, tickets=0, with_mr=0, escalated=0))
        w.batches += 1
        w.tickets += m.tickets
        w.with_mr += m.with_mr
        w.escalated += m.escalated
        w.scores += m.scores
        w.review_minutes += m.reviewed_minutes
    return [weeks[k] for k in sorted(weeks)]
