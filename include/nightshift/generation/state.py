"""Batch-wide state derived from small immutable records in the artifact store.

Parallel tasks never read-modify-write a shared file: each event is one record named by what makes
it unique, and "paused until", "aborted" and a ticket's outcome are derived by reading or listing.

Layout inside the batch folder: nightshift.layout.

A dry run (no push, merge request or tracker write) keeps its checkpoint results, start and rate limits
under `<name>.dry-run.json`, writes no push or branch record, and marks its outcomes and escalations
`dry_run`: a real run that reuses the batch id reads none of them and does the work (a real outcome
replaces a dry one, and hides the dry run's escalation from the morning queue).
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from nightshift import layout
from nightshift.agents.contract import Checkpoint, CheckpointResult
from nightshift.artifacts import BatchArtifacts, M
from nightshift.models import TicketState

#: Rate limits a batch survives; the next one aborts it ("If > 3 rate limits, abort batch").
MAX_RATE_LIMITS = 3
DEFAULT_RATE_LIMIT_WAIT = dt.timedelta(hours=1)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TicketStart(BaseModel):
    ticket_id: str
    started_at: dt.datetime
    deadline: dt.datetime


class RateLimitEvent(BaseModel):
    ticket_id: str
    checkpoint: Checkpoint
    index: int
    hit_at: dt.datetime
    reset_at: dt.datetime


class PushRecord(BaseModel):
    """The commit made for agent/<ID>. Written before the push, so a failed push is retried with this
    commit and the agent never runs again for it."""

    ticket_id: str
    branch: str
    sha: str
    base_branch: str
    checkpoint_trailer: str  # C2-complete or C2-partial
    #: The forge's head of the branch that the push may replace (--force-with-lease), None: absent.
    expected_remote: str | None = None
    pushed: bool = True


class BranchClaim(BaseModel):
    """agent/<ID> on the forge as found before C0: absent, or holding this batch's own commit."""

    ticket_id: str
    branch: str
    remote_sha: str | None = None
    checked_at: dt.datetime = Field(default_factory=utcnow)


class TicketOutcome(BaseModel):
    """The final state of a ticket in one batch; intake reads it for carry-over."""

    ticket_id: str
    batch_id: str
    state: TicketState
    reason: str = ""
    branch: str | None = None
    merge_request_url: str | None = None
    merge_request_iid: int | None = None
    target_branch: str | None = None
    followup_key: str | None = None
    remaining_work: list[str] = Field(default_factory=list)
    #: Outcomes of a dry run (no push, MR or tracker write) never feed the next batch's carry-over.
    dry_run: bool = False
    finished_at: dt.datetime = Field(default_factory=utcnow)


class Escalation(BaseModel):
    """An entry of the morning escalation queue."""

    ticket_id: str
    batch_id: str
    reasons: list[str]
    scope: CheckpointResult | None = None
    plan: CheckpointResult | None = None
    ticket_url: str | None = None
    title: str = ""
    created_at: dt.datetime = Field(default_factory=utcnow)
    #: A dry run's escalation: a real run never reads it, and a real record is never replaced by one.
    dry_run: bool = False


class BatchState:
    """Reads and writes the records of one batch."""

    def __init__(self, artifacts: BatchArtifacts, dry_run: bool | None = None) -> None:
        self.artifacts = artifacts
        #: None: a reader that sees every record (finish, triggers, review); False: a real run, which
        #: ignores a dry run's records; True: a dry run, whose records are kept apart.
        self.dry_run = dry_run

    # -- ticket timing ---------------------------------------------------------------------------
    def start_ticket(
        self, ticket_id: str, timeout_seconds: int, now: dt.datetime | None = None
    ) -> TicketStart:
        """Record the first start; later calls (retries) return the first record, so the deadline holds."""
        path = layout.started_record(ticket_id, self.dry_run)
        existing = self.artifacts.read_model(path, TicketStart)
        if existing is not None:
            return existing
        now = now or utcnow()
        record = TicketStart(
            ticket_id=ticket_id, started_at=now, deadline=now + dt.timedelta(seconds=timeout_seconds)
        )
        self.artifacts.write_model(path, record)
        return record

    def ticket_start(self, ticket_id: str) -> TicketStart | None:
        return self.artifacts.read_model(layout.started_record(ticket_id, self.dry_run), TicketStart)

    # -- checkpoints -------------------------------------------------------------------------------
    def checkpoint_result(self, ticket_id: str, checkpoint: Checkpoint) -> CheckpointResult | None:
        return self.artifacts.read_model(
            layout.checkpoint_record(ticket_id, checkpoint.value, self.dry_run), CheckpointResult
        )

    def save_checkpoint(self, ticket_id: str, result: CheckpointResult) -> None:
        self.artifacts.write_model(
            layout.checkpoint_record(ticket_id, result.checkpoint.value, self.dry_run), result
        )

    def previous_results(self, ticket_id: str, upto: Checkpoint) -> dict[str, CheckpointResult]:
        out: dict[str, CheckpointResult] = {}
        for cp in Checkpoint:
            if cp == upto:
                break
            result = self.checkpoint_result(ticket_id, cp)
            if result is not None:
                out[cp.value] = result
        return out

    def run_dir_name(self, ticket_id: str, checkpoint: Checkpoint, attempt: str) -> str:
        return layout.run_dir(ticket_id, checkpoint.value, attempt, self.dry_run)

    # -- rate limits ------------------------------------------------------------------------------------
    def _records(self, folder: str, model_type: type[M]) -> list[M]:
        """Every JSON record in a batch folder, re-validated."""
        found = (
            self.artifacts.read_model(f"{folder}/{name}", model_type)
            for name in self.artifacts.list(folder)
            if name.endswith(".json")
        )
        return [record for record in found if record is not None]

    def rate_limits(self) -> list[RateLimitEvent]:
        """The batch's rate-limit events; a real run's and a dry run's are counted apart (neither pauses
        nor aborts the other), a reader of the whole batch sees both."""
        events: list[RateLimitEvent] = []
        for name in self.artifacts.list(layout.RATE_LIMITS):
            mine = self.dry_run is None or name.endswith(".dry-run.json") == bool(self.dry_run)
            if name.endswith(".json") and mine:
                event = self.artifacts.read_model(f"{layout.RATE_LIMITS}/{name}", RateLimitEvent)
                if event is not None:
                    events.append(event)
        return sorted(events, key=lambda e: (e.hit_at, e.ticket_id))

    def record_rate_limit(
        self,
        ticket_id: str,
        checkpoint: Checkpoint,
        reset_at: dt.datetime | None,
        now: dt.datetime | None = None,
        *,
        max_wait: dt.timedelta = DEFAULT_RATE_LIMIT_WAIT,
        not_after: dt.datetime | None = None,
    ) -> RateLimitEvent:
        """One record per event. The index counts this ticket+checkpoint's earlier events, so a new
        event after a resume is a new record, while the pause check in `paused_until` stops a retried
        task from calling the agent (and hitting the same limit again) before the reset.

        The reset time is the agent's word: it is capped at `max_wait` from now and at `not_after`
        (the end of the generation window), so a reset in 2099 cannot freeze the night. A pause that
        ends too early only costs another try, and the fourth rate limit still aborts the batch.
        """
        now = now or utcnow()
        index = sum(1 for e in self.rate_limits() if e.ticket_id == ticket_id and e.checkpoint == checkpoint)
        limits = [reset_at or now + DEFAULT_RATE_LIMIT_WAIT, now + max_wait]
        if not_after is not None:
            limits.append(not_after)
        event = RateLimitEvent(
            ticket_id=ticket_id,
            checkpoint=checkpoint,
            index=index,
            hit_at=now,
            reset_at=max(now, min(limits)),
        )
        self.artifacts.write_model(
            layout.rate_limit_record(ticket_id, checkpoint.value, index, dry_run=bool(self.dry_run)), event
        )
        return event

    def paused_until(self, now: dt.datetime | None = None) -> dt.datetime | None:
        """The latest reset time among rate-limit records, if it is still in the future."""
        now = now or utcnow()
        latest = max((e.reset_at for e in self.rate_limits()), default=None)
        return latest if latest is not None and latest > now else None

    def paused_seconds(self, since: dt.datetime, now: dt.datetime | None = None) -> float:
        """Seconds the batch spent paused after `since` (overlapping pauses counted once). A ticket's
        timeout_per_ticket does not run while the batch waits for a rate-limit reset."""
        now = now or utcnow()
        spans = sorted((max(e.hit_at, since), min(e.reset_at, now)) for e in self.rate_limits())
        total, end = 0.0, since
        for start, stop in spans:
            start = max(start, end)
            if stop > start:
                total += (stop - start).total_seconds()
                end = stop
        return total

    def deadline(self, ticket_id: str, now: dt.datetime | None = None) -> dt.datetime | None:
        """The ticket's timeout_per_ticket deadline, moved on by the time the batch was paused."""
        start = self.ticket_start(ticket_id)
        if start is None:
            return None
        return start.deadline + dt.timedelta(seconds=self.paused_seconds(start.started_at, now))

    def aborted(self) -> bool:
        return len(self.rate_limits()) > MAX_RATE_LIMITS

    # -- forge --------------------------------------------------------------------------------------------
    def push_record(self, ticket_id: str) -> PushRecord | None:
        if self.dry_run:
            return None
        return self.artifacts.read_model(layout.push_record(ticket_id), PushRecord)

    def save_push(self, record: PushRecord) -> None:
        """Record the commit (pushed=False) before pushing it, and again once pushed. A dry run
        pushes nothing and records nothing."""
        if self.dry_run:
            return
        self.artifacts.write_model(layout.push_record(record.ticket_id), record)

    def branch_claim(self, ticket_id: str) -> BranchClaim | None:
        if self.dry_run:
            return None
        return self.artifacts.read_model(layout.branch_record(ticket_id), BranchClaim)

    def save_branch_claim(self, claim: BranchClaim) -> None:
        if not self.dry_run:
            self.artifacts.write_model(layout.branch_record(claim.ticket_id), claim)

    # -- outcomes and escalations ---------------------------------------------------------------------------
    def outcome(self, ticket_id: str) -> TicketOutcome | None:
        """The ticket's outcome; a real run does not see a dry run's."""
        found = self.artifacts.read_model(layout.outcome_record(ticket_id), TicketOutcome)
        if found is not None and found.dry_run and self.dry_run is False:
            return None
        return found

    def save_outcome(self, outcome: TicketOutcome) -> TicketOutcome:
        """Write the outcome once: a retried task that finds one keeps the first (it is final). A real
        outcome replaces a dry run's."""
        existing = self.artifacts.read_model(layout.outcome_record(outcome.ticket_id), TicketOutcome)
        if existing is not None and not (existing.dry_run and not outcome.dry_run):
            return existing
        self.artifacts.write_model(layout.outcome_record(outcome.ticket_id), outcome)
        return outcome

    def outcomes(self, ticket_ids: list[str]) -> dict[str, TicketOutcome]:
        return {t: o for t in ticket_ids if (o := self.outcome(t)) is not None}

    def save_escalation(self, escalation: Escalation) -> None:
        """Queue the escalation (a dry run's is marked and never replaces a real run's)."""
        escalation = escalation.model_copy(update={"dry_run": bool(self.dry_run)})
        path = layout.escalation_record(escalation.ticket_id)
        existing = self.artifacts.read_model(path, Escalation)
        if existing is not None and escalation.dry_run and not existing.dry_run:
            return
        self.artifacts.write_model(path, escalation)

    def escalations(self) -> list[Escalation]:
        """The morning queue. A real run ignores a dry run's entries; a reader of the whole batch does
        too once a real run has finished the ticket (its outcome replaced the dry run's)."""
        found = self._records(layout.ESCALATIONS, Escalation)
        if self.dry_run:
            return found
        outcomes = self.outcomes([e.ticket_id for e in found if e.dry_run])
        return [
            e
            for e in found
            if not e.dry_run
            or (self.dry_run is None and (e.ticket_id not in outcomes or outcomes[e.ticket_id].dry_run))
        ]
