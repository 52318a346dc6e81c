"""Hand-made batches for the review tests: a manifest, outcomes, escalations and gate reports."""

from __future__ import annotations

from typing import Any

from nightshift.agents.contract import Checkpoint, CheckpointResult, PlanResult, ScopeResult
from nightshift.artifacts import ArtifactStore
from nightshift.gates.report import CheckResult, Flag, GateReport, ScoreLine
from nightshift.generation.state import BatchState, Escalation, TicketOutcome
from nightshift.manifest import dump_manifest
from nightshift.models import BatchManifest, BatchStatus, ManifestTicket, TicketState
from nightshift.review.batch_view import BatchView

BATCH = "2026-11-30-overnight"
CLEAN_CHECKS = ("tests", "lint", "security", "secrets", "scope")


def report(
    score: int,
    *,
    flags: list[Flag] | None = None,
    not_run: tuple[str, ...] = (),
    ticket_id: str | None = None,
) -> GateReport:
    """A gate report whose checks all ran, except `not_run`."""
    checks = [
        CheckResult(
            name=name,
            status="not_run" if name in not_run else "passed",
            reason="tool missing" * (name in not_run),
        )
        for name in CLEAN_CHECKS
    ]
    return GateReport(
        batch_id=BATCH,
        ticket_id=ticket_id,
        base="a" * 40,
        head="b" * 40,
        score=score,
        checks=checks,
        flags=flags or [],
        breakdown=[ScoreLine(check="tests", weight=40, earned=40 * score / 100, note="12 passed")],
        checks_counted=len(CLEAN_CHECKS) - len(not_run),
        files_changed=["src/app.py"],
        lines_added=10,
        lines_removed=2,
    )


def secret_flag(file: str = "src/app.py", line: int = 3, severity: Any = "high") -> Flag:
    return Flag(
        kind="secret",
        file=file,
        line=line,
        message="token-like string",
        rule="detect-secrets",
        severity=severity,
    )


def ticket(ticket_id: str, priority: str = "medium", title: str = "", **kw: Any) -> ManifestTicket:
    return ManifestTicket(id=ticket_id, priority=priority, title=title or f"Title of {ticket_id}", **kw)


def outcome(
    ticket_id: str, state: TicketState = TicketState.COMPLETED, reason: str = "", **kw: Any
) -> TicketOutcome:
    iid = int(ticket_id.rsplit("-", 1)[1])
    mr = state in (TicketState.COMPLETED, TicketState.PARTIAL)
    return TicketOutcome(
        ticket_id=ticket_id,
        batch_id=BATCH,
        state=state,
        reason=reason,
        merge_request_url=f"http://gitlab.test/group/app/-/merge_requests/{iid}" if mr else None,
        merge_request_iid=iid if mr else None,
        **kw,
    )


def escalation(
    ticket_id: str, questions: list[str] | None = None, reasons: list[str] | None = None
) -> Escalation:
    return Escalation(
        ticket_id=ticket_id,
        batch_id=BATCH,
        reasons=reasons or ["agent asked for a decision: two valid designs"],
        scope=CheckpointResult(
            checkpoint=Checkpoint.C0,
            status="ok",
            scope=ScopeResult(summary="touches the API", files=["src/api.py"]),
        ),
        plan=CheckpointResult(
            checkpoint=Checkpoint.C1,
            status="escalate",
            reason="two valid designs",
            plan=PlanResult(plan="either REST or RPC", open_questions=questions or []),
        ),
        ticket_url=f"http://tracker.test/{ticket_id}",
    )


def view(
    tickets: list[ManifestTicket],
    outcomes: list[TicketOutcome],
    reports: dict[str, GateReport] | None = None,
    escalations: list[Escalation] | None = None,
) -> BatchView:
    manifest = BatchManifest(
        batch_id=BATCH, created_at="2026-11-29T17:00:00Z", tickets=tickets, status=BatchStatus.COMPLETED
    )
    return BatchView(
        manifest=manifest,
        outcomes={o.ticket_id: o for o in outcomes},
        reports=reports or {},
        escalations=escalations or [],
    )


def store_batch(store: ArtifactStore, batch: BatchView, batch_id: str | None = None) -> None:
    """Write a hand-made view into the artifact store the way the pipeline lays it out."""
    manifest = batch.manifest.model_copy(update={"batch_id": batch_id or batch.batch_id})
    artifacts = store.batch(manifest.batch_id)
    artifacts.write_text("manifest.yaml", dump_manifest(manifest))
    state = BatchState(artifacts)
    for o in batch.outcomes.values():
        state.save_outcome(o.model_copy(update={"batch_id": manifest.batch_id}))
    for e in batch.escalations:
        state.save_escalation(e.model_copy(update={"batch_id": manifest.batch_id}))
    for ticket_id, r in batch.reports.items():
        artifacts.write_text(f"tickets/{ticket_id}/gates.json", r.model_dump_json())
