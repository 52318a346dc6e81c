"""The morning review queue, in the specification's Review Priority order.

1. security    — any security flag (security, secret, protected_path) gets immediate attention
2. priority    — high-priority tickets (business-critical), MRs and escalations alike
3. quality     — MRs scoring over 90, likely quick approvals
4. escalation  — escalations, to unblock the next batch
5. rework      — lower-quality MRs (score 90 or below, or not scored yet): may need rework

An item takes the FIRST rule it matches (a high-priority MR with a secret is a security item), and
carries that rule and the reason beside it. Ties inside a rule break deterministically:

- security: highest flag severity first (critical, high, medium, low, unrated), then more security
  flags first, then the common order below;
- priority: MRs before escalations, then higher score first (unscored last), then the common order;
- quality and rework: higher score first (unscored last), then the common order;
- escalation: the common order.

The common order is ticket priority (high, medium, low), then the ticket's place in the manifest's
sequence, then the ticket id (project key, then number as a number), so the same batch always gives
the same queue.
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, Field

from nightshift.gates.report import GateReport
from nightshift.generation.state import Escalation, TicketOutcome
from nightshift.models import PRIORITY_RANK, TicketState
from nightshift.review.batch_view import BatchView, EscalationAnswer

#: The checks whose clean run, and only that, makes a ticket "Security: OK".
SECURITY_CHECKS: tuple[str, ...] = ("security", "secrets")
HIGH_QUALITY_SCORE = 90  # "Score > 90"
_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, None: 4}
MR_STATES = (TicketState.COMPLETED, TicketState.PARTIAL)


class Rule(IntEnum):
    """The Review Priority rule that placed an item; the value is its rank."""

    SECURITY = 1
    HIGH_PRIORITY = 2
    HIGH_QUALITY = 3
    ESCALATION = 4
    REWORK = 5

    @property
    def label(self) -> str:
        return _RULE_LABELS[self]


_RULE_LABELS = {
    Rule.SECURITY: "1 security flags first",
    Rule.HIGH_PRIORITY: "2 high-priority ticket",
    Rule.HIGH_QUALITY: "3 score over 90",
    Rule.ESCALATION: "4 escalation",
    Rule.REWORK: "5 lower quality",
}


class SecurityStatus(BaseModel):
    """What a reviewer may conclude about security: 'OK' only when the scans ran and found nothing."""

    flags: int = 0
    ran: list[str] = Field(default_factory=list)
    not_run: list[str] = Field(default_factory=lambda: list(SECURITY_CHECKS))
    failed_without_flags: bool = False

    @property
    def label(self) -> str:
        if self.flags:
            return str(self.flags)
        if self.failed_without_flags:
            return "check failed"
        if not self.ran:
            return "not scanned"
        if self.not_run:
            return "partly scanned"
        return "OK"

    @property
    def ok(self) -> bool:
        return self.label == "OK"


def security_status(report: GateReport | None) -> SecurityStatus:
    if report is None:
        return SecurityStatus()
    status = {c.name: c.status for c in report.checks}
    ran = [name for name in SECURITY_CHECKS if status.get(name) in ("passed", "failed")]
    failed = any(status.get(name) == "failed" for name in SECURITY_CHECKS)
    flags = len(report.security_flags)
    return SecurityStatus(
        flags=flags,
        ran=ran,
        not_run=[n for n in SECURITY_CHECKS if n not in ran],
        failed_without_flags=failed and not flags,
    )


class QueueItem(BaseModel):
    """One line of the review queue: an MR to review or an escalation to answer."""

    position: int = 0
    rule: Rule
    why: str
    kind: Literal["merge_request", "escalation"]
    ticket_id: str
    title: str = ""
    priority: str = "medium"
    state: TicketState
    score: int | None = None
    security: SecurityStatus = Field(default_factory=SecurityStatus)
    merge_request_url: str | None = None
    ticket_url: str | None = None
    outcome: TicketOutcome | None = None
    report: GateReport | None = None
    escalation: Escalation | None = None
    answer: EscalationAnswer | None = None

    @property
    def score_label(self) -> str:
        return "n/a" if self.score is None else str(self.score)

    @property
    def question(self) -> str:
        """What a human must decide for an escalation (the agent's questions, else its reasons)."""
        esc = self.escalation
        if esc is None:
            return ""
        plan = esc.plan.plan if esc.plan is not None else None
        if plan is not None and plan.open_questions:
            return "; ".join(plan.open_questions)
        if plan is not None and plan.escalation_reason:
            return plan.escalation_reason
        return "; ".join(esc.reasons) or "decision needed"


def _id_key(ticket_id: str) -> tuple[str, int]:
    match = re.match(r"\A(.*)-([0-9]+)\Z", ticket_id)
    return (match.group(1), int(match.group(2))) if match else (ticket_id, 0)


def _score_key(score: int | None) -> int:
    return -score if score is not None else 1


def _place(item: QueueItem) -> tuple[Rule, str]:
    if item.kind == "merge_request" and item.security.flags:
        flags = item.report.security_flags if item.report is not None else []
        first = flags[0]
        where = f" at {first.where()}" if first.where() else ""
        return Rule.SECURITY, f"{len(flags)} security flag(s): {first.kind}{where}"
    if item.priority == "high":
        return Rule.HIGH_PRIORITY, "high-priority ticket"
    if item.kind == "merge_request" and item.score is not None and item.score > HIGH_QUALITY_SCORE:
        return Rule.HIGH_QUALITY, f"score {item.score} > {HIGH_QUALITY_SCORE}"
    if item.kind == "escalation":
        return Rule.ESCALATION, "needs a human decision"
    if item.score is None:
        return Rule.REWORK, "not scored (no gate report)"
    return Rule.REWORK, f"score {item.score} ≤ {HIGH_QUALITY_SCORE}"


def _sort_key(item: QueueItem, sequence: dict[str, int]) -> tuple[object, ...]:
    common = (
        PRIORITY_RANK.get(item.priority, 1),
        sequence.get(item.ticket_id, len(sequence)),
        _id_key(item.ticket_id),
    )
    if item.rule == Rule.SECURITY:
        flags = item.report.security_flags if item.report is not None else []
        worst = min((_SEVERITY_RANK.get(f.severity, 4) for f in flags), default=4)
        return (item.rule, worst, -len(flags), *common)
    if item.rule == Rule.HIGH_PRIORITY:
        return (item.rule, item.kind != "merge_request", _score_key(item.score), *common)
    if item.rule in (Rule.HIGH_QUALITY, Rule.REWORK):
        return (item.rule, _score_key(item.score), *common)
    return (item.rule, *common)


def build_queue(view: BatchView) -> list[QueueItem]:
    """The ordered queue of a batch: its MRs (completed or partial) and its escalations."""
    items: list[QueueItem] = []
    for ticket_id, outcome in view.outcomes.items():
        if outcome.state not in MR_STATES:
            continue
        report = view.reports.get(ticket_id)
        entry = view.ticket(ticket_id)
        items.append(
            QueueItem(
                rule=Rule.REWORK,
                why="",
                kind="merge_request",
                ticket_id=ticket_id,
                title=view.title(ticket_id),
                priority=entry.priority if entry is not None else "medium",
                state=outcome.state,
                score=report.score if report is not None else None,
                security=security_status(report),
                merge_request_url=outcome.merge_request_url
                or (report.merge_request_url if report is not None else None),
                ticket_url=view.ticket_url(ticket_id),
                outcome=outcome,
                report=report,
            )
        )
    for esc in view.escalations:
        entry = view.ticket(esc.ticket_id)
        items.append(
            QueueItem(
                rule=Rule.ESCALATION,
                why="",
                kind="escalation",
                ticket_id=esc.ticket_id,
                title=view.title(esc.ticket_id) or esc.title,
                priority=entry.priority if entry is not None else "medium",
                state=TicketState.ESCALATED,
                ticket_url=esc.ticket_url or view.ticket_url(esc.ticket_id),
                outcome=view.outcomes.get(esc.ticket_id),
                escalation=esc,
                answer=view.answers.get(esc.ticket_id),
            )
        )
    for item in items:
        item.rule, item.why = _place(item)
    sequence = {ticket_id: n for n, ticket_id in enumerate(view.manifest.ticket_ids)}
    items.sort(key=lambda i: _sort_key(i, sequence))
    for n, item in enumerate(items, start=1):
        item.position = n
    return items
