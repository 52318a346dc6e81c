"""The records intake writes to the artifact store, re-validated whenever they are read back.

Layout of one batch folder (see pipeline.py):
  intake/collected.json   CollectedTickets   every mapped ticket, rejection and held-back ticket
  intake/validated.json   ValidatedTickets   which tickets are ready, which are not and why
  manifest.yaml           BatchManifest      the run order (the spec's format)
  tickets/<ID>/ticket.json IntakeRecord      the full ticket C0 reads, one file per ticket
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nightshift.models import Ticket, TicketId
from nightshift.readiness import ReadinessChecklist


def shown_key(key: str) -> str:
    """A tracker key safe to print: attacker-controlled keys may hold bidi or control characters."""
    return key if key.isascii() and key.isprintable() and len(key) <= 200 else ascii(key[:200])


class TicketRejected(Exception):
    """A malformed issue, named by its tracker key and the field at fault; intake leaves it out."""

    def __init__(self, ticket_key: str, field: str, reason: str) -> None:
        self.ticket_key = shown_key(ticket_key)
        self.field = field
        self.reason = reason
        super().__init__(f"ticket {self.ticket_key}: {field}: {reason}")


class Rejection(BaseModel):
    """A ticket intake could not map (reported, never blocking the batch)."""

    model_config = ConfigDict(extra="forbid")

    source: str
    ticket_key: str
    field: str
    reason: str

    @classmethod
    def of(cls, source: str, exc: TicketRejected) -> Rejection:
        return cls(source=source, ticket_key=exc.ticket_key, field=exc.field, reason=exc.reason)

    def __str__(self) -> str:
        return f"{self.source}: ticket {self.ticket_key}: {self.field}: {self.reason}"


class BodyCut(BaseModel):
    """Where intake cut a ticket text at the size limit (intake.max_body_bytes): nothing after it was read."""

    model_config = ConfigDict(extra="forbid")

    limit_bytes: int
    original: str | None = None  # "200000 bytes" or "180000 characters", when known without reading it all
    kept_lines: int = 0
    last_heading: str | None = None  # the last heading in the kept part (ticket text: shown guarded)

    def where(self) -> str:
        """`at 65536 bytes (of 200000 bytes), after line 812, under the heading "Notes"`."""
        of = f" (of {self.original})" if self.original else ""
        under = f', under the heading "{self.last_heading[:80]}"' if self.last_heading else ""
        return f"at {self.limit_bytes} bytes{of}, after line {self.kept_lines}{under}"


class IntakeRecord(BaseModel):
    """A ticket with what intake learnt about it; `tickets/<ID>/ticket.json` holds one per ticket."""

    model_config = ConfigDict(extra="forbid")

    ticket: Ticket
    source: str  # the name of the TicketSource it came from
    tracker_key: str | None = None  # the tracker's own key (PROJ-142, group/app#12); None for files
    checklist: ReadinessChecklist = Field(default_factory=ReadinessChecklist)
    warnings: list[str] = Field(default_factory=list)
    sanitised: list[str] = Field(default_factory=list)
    #: Dependencies the tracker already reports as done (a done `is_blocked_by` link).
    done_dependencies: list[TicketId] = Field(default_factory=list)
    carried_over_from: str | None = None
    #: A human's answer to the escalation of an earlier batch, sanitised; travels to the agent.
    escalation_answer: str | None = None
    #: Set when the description was cut at the size limit (readiness only sees the kept part).
    cut: BodyCut | None = None

    @property
    def id(self) -> str:
        return self.ticket.id


class Held(BaseModel):
    """A collected ticket that intake keeps out without asking anyone to fix it (done, awaiting an answer)."""

    model_config = ConfigDict(extra="forbid")

    ticket_id: TicketId
    reason: str
    done: bool = False  # done at its source: resolves dependencies on it


class CollectedTickets(BaseModel):
    """`intake/collected.json`: the batch's snapshot of its sources."""

    model_config = ConfigDict(extra="forbid")

    batch_id: str
    collected_at: str
    records: list[IntakeRecord] = Field(default_factory=list)
    rejected: list[Rejection] = Field(default_factory=list)
    held: list[Held] = Field(default_factory=list)
    #: Problems met reading earlier batches' outcomes (skipped, never fatal).
    problems: list[str] = Field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]


class NotReady(BaseModel):
    """A ticket left out by the readiness criteria, with exactly what is missing."""

    model_config = ConfigDict(extra="forbid")

    ticket_id: TicketId
    missing: list[str]
    #: Ids it waits on; a ticket waiting only on dependencies keeps its ready label (it stays queued).
    waiting_on: list[TicketId] = Field(default_factory=list)
    #: A human must fix the ticket (on a tracker its ready label is swapped for the not-ready label).
    needs_fix: bool = False


class ValidatedTickets(BaseModel):
    """`intake/validated.json`: the readiness verdict, taken once per batch."""

    model_config = ConfigDict(extra="forbid")

    batch_id: str
    collected_digest: str  # which collected.json this verdict is for
    ready: list[TicketId] = Field(default_factory=list)
    not_ready: list[NotReady] = Field(default_factory=list)
    #: Missing recommended items per ready ticket (they become the manifest ticket's warnings).
    warnings: dict[str, list[str]] = Field(default_factory=dict)
    #: Dependencies that are done in a tracker, per ticket (dropped from the manifest's dependencies).
    resolved_outside: dict[str, list[str]] = Field(default_factory=dict)


class SequenceReport(BaseModel):
    """`intake/sequenced.json`: the run order, and the ready tickets the max_tickets cap left for later."""

    model_config = ConfigDict(extra="forbid")

    batch_id: str
    order: list[TicketId] = Field(default_factory=list)
    deferred: list[TicketId] = Field(default_factory=list)
