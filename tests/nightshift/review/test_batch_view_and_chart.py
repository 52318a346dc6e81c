from __future__ import annotations

import re

import pytest

from nightshift.artifacts import ArtifactStore
from nightshift.intake.records import CollectedTickets, IntakeRecord, NotReady, Rejection, ValidatedTickets
from nightshift.models import Ticket, TicketState
from nightshift.review.batch_view import load_batch_view
from nightshift.review.chart import trend_svg
from nightshift.review.metrics import WeekTrend
from nightshift.review.queue import build_queue
from tests.nightshift.review.fixtures import BATCH, escalation, outcome, report, store_batch, ticket, view

LATER = "2026-12-01-overnight"


def test_view_reads_intake_records_reports_and_later_answers(tmp_path) -> None:
    store = ArtifactStore(f"file://{tmp_path}")
    batch = view(
        [ticket("P-1"), ticket("P-2")],
        [outcome("P-1"), outcome("P-2", TicketState.ESCALATED)],
        {"P-1": report(93)},
        [escalation("P-2")],
    )
    store_batch(store, batch)
    artifacts = store.batch(BATCH)
    artifacts.write_model(
        "intake/validated.json",
        ValidatedTickets(
            batch_id=BATCH,
            collected_digest="x",
            not_ready=[NotReady(ticket_id="P-9", missing=["acceptance criteria"])],
        ),
    )
    artifacts.write_model(
        "intake/collected.json",
        CollectedTickets(
            batch_id=BATCH,
            collected_at="2026-11-29T17:00:00Z",
            rejected=[Rejection(source="jira", ticket_key="BAD key", field="id", reason="not a ticket id")],
        ),
    )
    # the next batch's intake found the human's answer on P-2's ticket
    answer = IntakeRecord(
        ticket=Ticket(id="P-2", title="Choose"),
        source="jira",
        carried_over_from=BATCH,
        escalation_answer="Use REST.",
    )
    store.batch(LATER).write_model(
        "intake/collected.json",
        CollectedTickets(batch_id=LATER, collected_at="2026-12-01T17:00:00Z", records=[answer]),
    )
    loaded = load_batch_view(store, BATCH)
    assert loaded.reports["P-1"].score == 93 and set(loaded.outcomes) == {"P-1", "P-2"}
    assert [n.ticket_id for n in loaded.not_ready] == ["P-9"] and loaded.rejected[0].field == "id"
    [esc] = [i for i in build_queue(loaded) if i.kind == "escalation"]
    assert (
        esc.answer is not None and esc.answer.answer == "Use REST." and esc.answer.answered_in_batch == LATER
    )


def test_unreadable_gate_report_is_shown_not_scored(tmp_path) -> None:
    store = ArtifactStore(f"file://{tmp_path}")
    store_batch(store, view([ticket("P-1")], [outcome("P-1")]))
    store.batch(BATCH).write_text("tickets/P-1/gates.json", '{"schema_version": "9.0"}')
    loaded = load_batch_view(store, BATCH)
    assert "P-1" not in loaded.reports and "P-1" in loaded.report_errors
    assert build_queue(loaded)[0].score is None


def test_missing_batch_names_it(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="batch 2026-01-01-x"):
        load_batch_view(ArtifactStore(f"file://{tmp_path}"), "2026-01-01-x")


def test_trend_chart_is_plain_svg_with_targets() -> None:
    weeks = [
        WeekTrend(week="2026-W47", batches=1, tickets=12, with_mr=9, escalated=1, scores=[82]),
        WeekTrend(week="2026-W48", batches=2, tickets=15, with_mr=12, escalated=2, scores=[84, 86]),
    ]
    svg = trend_svg(weeks)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert len(re.findall(r'<rect class="bar"', svg)) == 2 and 'class="score"' in svg
    assert 'class="target-completion"' in svg and 'class="target-score"' in svg
    assert "style=" not in svg and "<script" not in svg and "href" not in svg
    assert "2026-W47: 75% completion" in svg and "average score 85" in svg
    assert "no metrics yet" in trend_svg([])
