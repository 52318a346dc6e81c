from nightshift.generation.state import Escalation, TicketOutcome
from nightshift.models import TicketState
from nightshift.review.dashboard import DashboardRow, render_dashboard, rows_from_outcomes


def test_dashboard_has_the_specs_sections_counts_and_order():
    rows = [
        DashboardRow(
            ticket_id="P-3", title="Low score", state=TicketState.COMPLETED, score=78, security_flags=1
        ),
        DashboardRow(ticket_id="P-1", title="Auth feature", state=TicketState.COMPLETED, score=94),
        DashboardRow(ticket_id="P-2", title="Utils", state=TicketState.PARTIAL),
        DashboardRow(ticket_id="P-4", title="Broken", state=TicketState.FAILED, reason="C2 failed: tests"),
        DashboardRow(
            ticket_id="P-5", title="Waits", state=TicketState.SKIPPED, reason="dependency P-4 failed"
        ),
    ]
    escalations = [Escalation(ticket_id="P-6", batch_id="b", reasons=["Architecture decision needed"])]
    text = render_dashboard("2024-01-15-overnight", 6, rows, escalations)
    lines = text.splitlines()
    assert "BATCH REVIEW: 2024-01-15-overnight" in lines[1]
    assert any("Total tickets: 6" in line for line in lines)
    assert any("Completed: 3 (1 partial)" in line for line in lines)
    assert any("Escalated: 1" in line for line in lines) and any("Failed: 1" in line for line in lines)
    ready = [line for line in lines if "[Score:" in line]
    assert [line.split(":")[0].split()[-1] for line in ready] == [
        "P-1",
        "P-3",
        "P-2",
    ]  # by score, pending last
    assert "✓ P-1" in ready[0] and "[Security: OK]" in ready[0]
    assert "⚠ P-3" in ready[1] and "[Security: 1]" in ready[1]
    assert any("⚠ P-6: Architecture decision needed" in line for line in lines)
    assert any("P-5 skipped: dependency P-4 failed" in line for line in lines)
    assert len({len(line) for line in lines}) == 1  # a closed box


def test_rows_from_outcomes_carry_state_and_links():
    outcome = TicketOutcome(
        ticket_id="P-1", batch_id="b", state=TicketState.COMPLETED, merge_request_url="http://mr/1"
    )
    [row] = rows_from_outcomes({"P-1": outcome}, {"P-1": "Title"})
    assert (
        row.title == "Title" and row.merge_request_url == "http://mr/1" and row.state == TicketState.COMPLETED
    )
