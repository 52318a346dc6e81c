from __future__ import annotations

from nightshift.intake.records import NotReady
from nightshift.models import TicketState
from nightshift.review.dashboard import WIDTH, render_dashboard
from nightshift.review.metrics import batch_metrics, weekly_trend
from nightshift.review.queue import build_queue
from tests.nightshift.review.fixtures import escalation, outcome, report, secret_flag, ticket, view


def _batch():
    batch = view(
        [
            ticket("P-1", title="Auth feature"),
            ticket("P-2", title="Utils cleanup"),
            ticket("P-3", title="API refactor " + "with a very long title that goes on " * 4),
            ticket("P-4"),
            ticket("P-5"),
            ticket("P-6"),
            ticket("P-7"),
        ],
        [
            outcome("P-1"),
            outcome("P-2"),
            outcome("P-3"),
            outcome("P-4", TicketState.FAILED, "C2 failed: tests"),
            outcome("P-5", TicketState.SKIPPED, "dependency P-4 failed"),
            outcome("P-6", TicketState.ESCALATED),
            outcome("P-7", TicketState.PARTIAL),
        ],
        {
            "P-1": report(94),
            "P-2": report(95, not_run=("secrets",)),
            "P-3": report(78, flags=[secret_flag()]),
        },
        [escalation("P-6", questions=["Architecture decision needed: REST or RPC?"])],
    )
    batch.not_ready = [NotReady(ticket_id="P-9", missing=["acceptance criteria"], needs_fix=True)]
    return batch


def test_dashboard_box_sections_counts_and_queue_order() -> None:
    batch = _batch()
    text = render_dashboard(batch, build_queue(batch))
    lines = text.splitlines()
    assert "BATCH REVIEW: 2026-11-30-overnight" in lines[1]
    for expected in ("Total tickets: 7", "Completed: 4 (1 partial)", "Escalated: 1", "Failed: 1"):
        assert any(expected in line for line in lines), expected
    ready = [line for line in lines if "[Score:" in line]
    assert [line.split(":")[0].split()[-1] for line in ready] == ["P-3", "P-2", "P-1", "P-7"]
    assert "⚠ P-3" in ready[0] and "[Security: 1]" in ready[0]
    assert "✓ P-1" in ready[2] and "[Security: OK]" in ready[2]
    assert "⚠ P-2" in ready[1] and "[Security: partly scanned]" in ready[1]  # secrets did not run: never "OK"
    assert "[Score: n/a]" in ready[3] and "[Security: not scanned]" in ready[3]
    assert any("rule 1 security flags first" in line for line in lines)
    assert any("Question: Architecture decision needed: REST or RPC?" in line for line in lines)
    assert any("P-5 skipped: dependency P-4 failed" in line for line in lines)
    assert any("P-9 not ready: missing acceptance criteria" in line for line in lines)
    assert {len(line) for line in lines} == {WIDTH + 4}  # a closed box


def test_long_titles_wrap_and_never_hide_score_or_security() -> None:
    batch = _batch()
    lines = render_dashboard(batch, build_queue(batch)).splitlines()
    row = next(i for i, line in enumerate(lines) if "P-3:" in line)
    assert "[Score: 78]" in lines[row] and "[Security: 1]" in lines[row]
    assert "goes on" in lines[row + 1]  # the rest of the title on the next line
    assert "very long title that goes on with a very long title that goes on" in " ".join(
        line.strip("║ ") for line in lines[row : row + 4]
    )


def test_no_gate_report_is_never_security_ok() -> None:
    batch = view([ticket("P-1")], [outcome("P-1")])
    text = render_dashboard(batch, build_queue(batch))
    assert "[Score: n/a] [Security: not scanned]" in text
    assert "Security: OK" not in text


def test_control_and_bidi_characters_in_titles_are_neutralised() -> None:
    batch = view([ticket("P-1", title="evil\x1b[31m\u202etitle")], [outcome("P-1")], {"P-1": report(95)})
    text = render_dashboard(batch, build_queue(batch))
    assert "\x1b" not in text and "\u202e" not in text and "evil?[31m?title" in text


def test_metrics_and_trend_table() -> None:
    batch = _batch()
    metrics = batch_metrics(batch)
    text = render_dashboard(batch, build_queue(batch), metrics, weekly_trend([metrics]))
    assert "Completion rate:" in text and "57%" in text and "(> 80%)" in text and "MISSED" in text
    assert "Review time per MR:" in text and "not measured yet" in text
    assert "Week 2026-W48: 7 tickets, 57% completion, avg score 89" in text
