"""The reviewer dashboard as text, in the specification's layout.

Quality scores come from the gates stage; until a ticket has a gate report its score shows as pending.
"""

from __future__ import annotations

from pydantic import BaseModel

from nightshift.generation.state import Escalation, TicketOutcome
from nightshift.models import TicketState

WIDTH = 76


class DashboardRow(BaseModel):
    ticket_id: str
    title: str
    state: TicketState
    score: int | None = None
    security_flags: int = 0
    merge_request_url: str | None = None
    reason: str = ""


def _line(text: str) -> str:
    body = text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"
    return f"║ {body:<{WIDTH}} ║"


def render_dashboard(
    batch_id: str, total: int, rows: list[DashboardRow], escalations: list[Escalation]
) -> str:
    done = [r for r in rows if r.state in (TicketState.COMPLETED, TicketState.PARTIAL)]
    failed = [r for r in rows if r.state == TicketState.FAILED]
    carried = [r for r in rows if r.state in (TicketState.SKIPPED, TicketState.CARRIED_OVER)]
    partials = sum(r.state == TicketState.PARTIAL for r in done)
    rule = "═" * (WIDTH + 2)
    out = [
        f"╔{rule}╗",
        _line(f"BATCH REVIEW: {batch_id}".center(WIDTH)),
        f"╠{rule}╣",
        _line("Summary:"),
        _line(f"  Total tickets: {total}"),
        _line(f"  Completed: {len(done)}" + (f" ({partials} partial)" if partials else "")),
        _line(f"  Escalated: {len(escalations)}"),
        _line(f"  Failed: {len(failed)}"),
        _line(f"  Skipped / carried over: {len(carried)}"),
        f"╠{rule}╣",
        _line("Ready for Review (sorted by quality score):"),
    ]
    ordered = sorted(done, key=lambda r: (-(r.score if r.score is not None else -1), r.ticket_id))
    for row in ordered:
        mark = "✓" if row.security_flags == 0 and row.state == TicketState.COMPLETED else "⚠"
        score = f"{row.score}" if row.score is not None else "pending"
        security = "OK" if row.security_flags == 0 else str(row.security_flags)
        partial = " (partial)" if row.state == TicketState.PARTIAL else ""
        out.append(
            _line(
                f"  {mark} {row.ticket_id}: {row.title[:30]}{partial} [Score: {score}] [Security: {security}]"
            )
        )
    if not ordered:
        out.append(_line("  (none)"))
    out += [f"╠{rule}╣", _line("Escalations Pending:")]
    for esc in sorted(escalations, key=lambda e: e.ticket_id):
        out.append(_line(f"  ⚠ {esc.ticket_id}: {esc.reasons[0] if esc.reasons else 'decision needed'}"))
    if not escalations:
        out.append(_line("  (none)"))
    if failed or carried:
        out += [f"╠{rule}╣", _line("Failed, skipped and carried over:")]
        for row in failed + carried:
            out.append(_line(f"  ✗ {row.ticket_id} {row.state.value}: {row.reason}"))
    out.append(f"╚{rule}╝")
    return "\n".join(out)


def rows_from_outcomes(outcomes: dict[str, TicketOutcome], titles: dict[str, str]) -> list[DashboardRow]:
    return [
        DashboardRow(
            ticket_id=t,
            title=titles.get(t, ""),
            state=o.state,
            merge_request_url=o.merge_request_url,
            reason=o.reason,
        )
        for t, o in outcomes.items()
    ]
