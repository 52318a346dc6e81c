"""Everything the morning review needs about one batch, read once from the artifact store.

The queue, the text dashboard, the review page and the metrics all read a `BatchView`, so they agree
on what the batch holds. Records are re-validated on the way in; a missing record is simply absent
(a batch still running has no outcomes, a batch before the gates has no gate reports).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nightshift import layout
from nightshift.artifacts import ArtifactStore, BatchArtifacts, M
from nightshift.gates.report import GateReport, load_report
from nightshift.generation.state import BatchState, Escalation, TicketOutcome
from nightshift.generation.usage import BatchUsage, batch_usage
from nightshift.intake.records import (
    CollectedTickets,
    Held,
    IntakeRecord,
    NotReady,
    Rejection,
    ValidatedTickets,
)
from nightshift.manifest import parse_manifest
from nightshift.models import BatchManifest, ManifestTicket


class EscalationAnswer(BaseModel):
    """A human's answer to an escalation, as a later batch's intake found it on the ticket."""

    ticket_id: str
    answered_in_batch: str
    answer: str


class BatchView(BaseModel):
    """One batch's manifest and records (read-only)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    manifest: BatchManifest
    outcomes: dict[str, TicketOutcome] = Field(default_factory=dict)
    escalations: list[Escalation] = Field(default_factory=list)
    reports: dict[str, GateReport] = Field(default_factory=dict)
    #: Gate reports that exist but could not be read (ticket id -> reason): shown, never scored.
    report_errors: dict[str, str] = Field(default_factory=dict)
    records: dict[str, IntakeRecord] = Field(default_factory=dict)
    not_ready: list[NotReady] = Field(default_factory=list)
    rejected: list[Rejection] = Field(default_factory=list)
    held: list[Held] = Field(default_factory=list)
    answers: dict[str, EscalationAnswer] = Field(default_factory=dict)
    manifest_text: str = ""
    #: Tokens and cost of the agent runs, per ticket and in total (nightshift.generation.usage).
    usage: BatchUsage | None = None

    @property
    def batch_id(self) -> str:
        return self.manifest.batch_id

    def ticket(self, ticket_id: str) -> ManifestTicket | None:
        try:
            return self.manifest.ticket(ticket_id)
        except KeyError:
            return None

    def title(self, ticket_id: str) -> str:
        entry = self.ticket(ticket_id)
        if entry is not None and entry.title:
            return entry.title
        record = self.records.get(ticket_id)
        if record is not None and record.ticket.title:
            return record.ticket.title
        esc = next((e for e in self.escalations if e.ticket_id == ticket_id), None)
        return esc.title if esc is not None else ""

    def ticket_url(self, ticket_id: str) -> str | None:
        entry = self.ticket(ticket_id)
        if entry is not None and entry.url:
            return entry.url
        record = self.records.get(ticket_id)
        return record.ticket.url if record is not None else None


def _optional(artifacts: BatchArtifacts, relpath: str, model_type: type[M]) -> M | None:
    """An intake record the review can do without: unreadable (an older format) counts as absent."""
    try:
        return artifacts.read_model(relpath, model_type)
    except ValueError:
        return None


def read_gate_report(artifacts: BatchArtifacts, ticket_id: str) -> GateReport | None:
    """The ticket's gate report, or None when the gates have not written one."""
    text = artifacts.read_text(layout.gate_report(ticket_id))
    return None if text is None else load_report(text)


def load_batch_view(store: ArtifactStore, batch_id: str, *, with_answers: bool = True) -> BatchView:
    """Read a batch; raises FileNotFoundError naming the batch when it has no manifest."""
    artifacts = store.batch(batch_id)
    text = artifacts.read_text(layout.MANIFEST)
    if text is None:
        raise FileNotFoundError(f"batch {batch_id}: no {layout.MANIFEST} at {artifacts.url}")
    manifest = parse_manifest(text, source=f"{artifacts.url}/{layout.MANIFEST}")
    state = BatchState(artifacts)
    view = BatchView(
        manifest=manifest,
        outcomes=state.outcomes(manifest.ticket_ids),
        escalations=sorted(state.escalations(), key=lambda e: e.ticket_id),
        manifest_text=text,
        usage=batch_usage(state),
    )
    for ticket_id in manifest.ticket_ids:
        try:
            report = read_gate_report(artifacts, ticket_id)
        except (ValueError, ValidationError) as exc:
            view.report_errors[ticket_id] = str(exc).splitlines()[0]
            continue
        if report is not None:
            view.reports[ticket_id] = report
    collected = _optional(artifacts, layout.INTAKE_COLLECTED, CollectedTickets)
    if collected is not None:
        view.records = {r.id: r for r in collected.records}
        view.rejected = list(collected.rejected)
        view.held = list(collected.held)
    validated = _optional(artifacts, layout.INTAKE_VALIDATED, ValidatedTickets)
    if validated is not None:
        view.not_ready = list(validated.not_ready)
    if with_answers and view.escalations:
        view.answers = escalation_answers(store, batch_id, [e.ticket_id for e in view.escalations])
    return view


def escalation_answers(
    store: ArtifactStore, batch_id: str, ticket_ids: list[str]
) -> dict[str, EscalationAnswer]:
    """Answers found by later batches' intake: a ticket carried over from `batch_id` with the human's
    answer to its escalation (intake reads it from the ticket's comments)."""
    wanted = set(ticket_ids)
    found: dict[str, EscalationAnswer] = {}
    for later in store.batch_ids():
        if later <= batch_id or not wanted - set(found):
            continue
        collected = _optional(store.batch(later), layout.INTAKE_COLLECTED, CollectedTickets)
        for record in collected.records if collected is not None else []:
            if record.id in wanted and record.id not in found and record.escalation_answer:
                if record.carried_over_from in (None, batch_id):
                    found[record.id] = EscalationAnswer(
                        ticket_id=record.id, answered_in_batch=later, answer=record.escalation_answer
                    )
    return found
