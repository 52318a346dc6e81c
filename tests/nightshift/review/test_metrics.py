"""Metrics and review times, the latter from real python-gitlab against the GitLab stand-in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from nightshift.artifacts import ArtifactStore
from nightshift.forge.merge_requests import MergeRequestForge
from nightshift.models import BatchStatus, TicketState
from nightshift.review.batch_view import load_batch_view
from nightshift.review.forge import GitLabActivityReader
from nightshift.review.metrics import (
    MergeRequestActivity,
    batch_metrics,
    record_queue_time,
    review_time,
    stored_metrics,
    weekly_trend,
)
from nightshift.review.status import refresh_batch, refresh_pending_batches
from nightshift.trackers.clients.gitlab import make_gitlab_client
from standins.fixtures import default_seed, running_gitlab
from standins.gitlab import GitLabStandin
from tests.nightshift.review.fixtures import BATCH, escalation, outcome, report, store_batch, ticket, view

P = "group/app"
QUEUED = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


def _at(minutes: float) -> str:
    return (QUEUED + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_counts_rates_and_targets() -> None:
    batch = view(
        [ticket(f"P-{n}") for n in range(1, 6)],
        [
            outcome("P-1"),
            outcome("P-2"),
            outcome("P-3", TicketState.PARTIAL),
            outcome("P-4", TicketState.ESCALATED),
            outcome("P-5", TicketState.FAILED),
        ],
        {"P-1": report(90), "P-2": report(80)},
        [escalation("P-4")],
    )
    m = batch_metrics(batch)
    assert (m.tickets, m.with_mr, m.escalated, m.failed) == (5, 3, 1, 1)
    assert m.completion_rate == 60.0 and m.escalation_rate == 20.0
    assert m.average_score == 85.0  # the unscored partial is left out, not counted as zero
    met = {t.name: t.met for t in m.targets()}
    assert met == {
        "completion_rate": False,
        "average_score": False,  # 85 is not > 85
        "escalation_rate": False,  # 20 % is not < 15 %
        "review_minutes": None,
    }


def test_review_clock_starts_at_the_later_of_queue_and_ready() -> None:
    activity = MergeRequestActivity(
        state="opened",
        created_at=QUEUED - dt.timedelta(hours=6),
        ready_at=QUEUED + dt.timedelta(minutes=20),
        notes=[("rita", QUEUED + dt.timedelta(minutes=5)), ("rita", QUEUED + dt.timedelta(minutes=27))],
    )
    rt = review_time("P-1", activity, QUEUED)
    assert rt.started_at == QUEUED + dt.timedelta(minutes=20) and rt.minutes == 7 and rt.event == "note"
    assert not rt.done  # a note alone does not finish the review
    early = activity.model_copy(
        update={"approvals": [("rita", QUEUED - dt.timedelta(minutes=30))], "notes": []}
    )
    rt = review_time("P-1", early, QUEUED)
    assert rt.minutes == 0 and rt.event == "approval" and rt.done  # approved before the queue was ready


@pytest.fixture
def gitlab_server() -> Iterator[GitLabStandin]:
    seed = default_seed()
    seed["users"].append({"username": "rita", "name": "Rita Human"})
    seed["tokens"].append({"token": "glpat-rita-human-token", "user": "rita", "scopes": ["api"]})
    with running_gitlab(seed) as server:
        yield server


def _open_mr(server: GitLabStandin, ticket_id: str) -> int:
    client = make_gitlab_client(server.base_url, server.token)
    branch = f"agent/{ticket_id}"
    client.projects.get(P, lazy=True).branches.create({"branch": branch, "ref": "main"})
    forge = MergeRequestForge(client, P)
    ref = forge.upsert_draft_mr(branch, "main", f"feat({ticket_id}): work", "body", ["nightshift"])
    forge.upsert_note(ref.iid, "gates", "score 90")  # the bot's own note never counts as a review
    return ref.iid


def _set_times(
    server: GitLabStandin, iid: int, *, approved: float | None = None, merged: float | None = None
) -> None:
    """Known review times: the stand-in stamps events with the wall clock, so the test moves them."""
    mr = server._project_by_path(P).merge_requests[iid]
    if approved is not None:
        server.approve(P, iid, "reviewer")
        mr.approvals = [(user, _at(approved)) for user, _ in mr.approvals]
    if merged is not None:
        server.merge(P, iid, "reviewer")
        mr.merged_at = _at(merged)


def test_review_times_and_reviewed_status_from_the_forge(tmp_path, gitlab_server: GitLabStandin) -> None:
    store = ArtifactStore(f"file://{tmp_path}")
    iids = {t: _open_mr(gitlab_server, t) for t in ("P-1", "P-2", "P-3")}
    batch = view(
        [ticket(t, repository=P) for t in iids],
        [outcome(t).model_copy(update={"merge_request_iid": iid}) for t, iid in iids.items()],
        {"P-1": report(95)},
    )
    store_batch(store, batch)
    record_queue_time(store.batch(BATCH), QUEUED)
    reader = GitLabActivityReader(make_gitlab_client(gitlab_server.base_url, gitlab_server.token))

    _set_times(gitlab_server, iids["P-1"], approved=12)
    _set_times(gitlab_server, iids["P-2"], merged=30)
    # P-3: a human note (review started) but no approval: the batch is not reviewed yet
    rita = make_gitlab_client(gitlab_server.base_url, "glpat-rita-human-token")
    rita.projects.get(P, lazy=True).mergerequests.get(iids["P-3"], lazy=True).notes.create({"body": "why?"})
    gitlab_server._project_by_path(P).merge_requests[iids["P-3"]].notes[-1].created_at = _at(45)

    first = refresh_batch(store, BATCH, reader)
    times = {r.ticket_id: (r.minutes, r.event, r.by) for r in first.metrics.review_times}
    assert times == {
        "P-1": (12.0, "approval", "reviewer"),
        "P-2": (30.0, "merge", "reviewer"),
        "P-3": (45.0, "note", "rita"),
    }
    assert first.metrics.review_minutes == 29.0
    assert (
        not first.became_reviewed and load_batch_view(store, BATCH).manifest.status == BatchStatus.COMPLETED
    )
    assert sorted(first.new_review_times()) == [12.0, 30.0, 45.0]

    gitlab_server.approve(P, iids["P-3"], "reviewer")
    again = refresh_batch(store, BATCH, reader)
    assert again.became_reviewed and load_batch_view(store, BATCH).manifest.status == BatchStatus.REVIEWED
    assert again.new_review_times() == []  # nothing measured twice
    assert stored_metrics(store)[0].status == "reviewed"
    # a reviewed batch is no longer refreshed by later review queues
    assert refresh_pending_batches(store, reader, skip=None) == []


def test_earlier_batches_are_refreshed_until_reviewed(tmp_path, gitlab_server: GitLabStandin) -> None:
    store = ArtifactStore(f"file://{tmp_path}")
    iid = _open_mr(gitlab_server, "P-1")
    batch = view(
        [ticket("P-1", repository=P)], [outcome("P-1").model_copy(update={"merge_request_iid": iid})]
    )
    store_batch(store, batch, "2026-11-23-overnight")
    reader = GitLabActivityReader(make_gitlab_client(gitlab_server.base_url, gitlab_server.token))
    [open_] = refresh_pending_batches(store, reader, skip=BATCH)
    assert not open_.became_reviewed
    gitlab_server.merge(P, iid, "reviewer")
    [done] = refresh_pending_batches(store, reader, skip=BATCH)
    assert done.became_reviewed and done.metrics.review_times[0].event == "merge"


def test_weekly_trend_from_stored_records(tmp_path) -> None:
    store = ArtifactStore(f"file://{tmp_path}")
    weeks = {
        "2026-11-16-overnight": ("2026-11-16T17:00:00Z", 2),
        "2026-11-18-overnight": ("2026-11-18T17:00:00Z", 1),
        "2026-11-23-overnight": ("2026-11-23T17:00:00Z", 0),
    }
    for batch_id, (created, failed) in weeks.items():
        tickets = [ticket(f"P-{n}") for n in range(1, 5)]
        outcomes = [
            outcome(t.id, TicketState.FAILED if n < failed else TicketState.COMPLETED)
            for n, t in enumerate(tickets)
        ]
        b = view(tickets, outcomes, {t.id: report(80 + 2 * n) for n, t in enumerate(tickets)})
        b.manifest.created_at = created
        b.manifest.batch_id = batch_id
        from nightshift.review.metrics import save_metrics

        save_metrics(store.batch(batch_id), batch_metrics(b))
    trend = weekly_trend(stored_metrics(store))
    assert [w.line() for w in trend] == [
        "Week 2026-W47: 8 tickets, 62% completion, avg score 84",
        "Week 2026-W48: 4 tickets, 100% completion, avg score 83",
    ]
