"""Where a batch's records live inside its folder of the artifact store: the one spelling of the
layout, so the stage that writes a record and the stages that read it cannot drift apart.

    manifest.yaml                          the batch manifest (status updated by single tasks only)
    intake/collected.json                  what intake read from its sources (CollectedTickets)
    intake/validated.json                  the readiness verdict (ValidatedTickets)
    intake/sequenced.json                  the run order and what the cap deferred (SequenceReport)
    tickets/<ID>/ticket.json               what intake collected (IntakeRecord)
    tickets/<ID>/started.json              first start of the ticket: its timeout_per_ticket deadline
    tickets/<ID>/checkpoints/<C>.json      a completed checkpoint's result (resume point)
    tickets/<ID>/runs/<C>-try<N>/          request, transcript and result evidence of one agent run
    tickets/<ID>/push.json                 the commit made for agent/<ID>, recorded before the push;
                                           `pushed` turns true once the forge has it
    tickets/<ID>/branch.json               who owns agent/<ID> on the forge, decided before C0
    tickets/<ID>/followup.json             the follow-up ticket of a partial result, once it exists
    tickets/<ID>/outcome.json              the ticket's final state in this batch (TicketOutcome)
    tickets/<ID>/gates.json                the gate report (GateReport); a re-run overwrites it
    tickets/<ID>/gates-pipeline.json       the CI pipeline the gates read for the pushed commit
    ratelimits/<ID>-<C>-<K>.json           one record per rate-limit event (a dry run's: .dry-run.json)
    escalations/<ID>.json                  the escalation queue entry, with C0/C1 context
    review/dashboard.txt                   the morning dashboard
    review/metrics.json, review/queue.json the batch's metrics and its ordered review queue

A dry run keeps its own started, checkpoint and run records beside the real ones
(`started.dry-run.json`, `checkpoints/<C>.dry-run.json`, `runs/dry-run-<C>-try<N>/`).

Every function checks the ticket id, so no record name can leave its folder.
"""

from __future__ import annotations

from nightshift.models import check_ticket_id

MANIFEST = "manifest.yaml"
INTAKE_COLLECTED = "intake/collected.json"
INTAKE_VALIDATED = "intake/validated.json"
INTAKE_SEQUENCED = "intake/sequenced.json"
TICKETS = "tickets"
RATE_LIMITS = "ratelimits"
ESCALATIONS = "escalations"
REVIEW_DASHBOARD = "review/dashboard.txt"
REVIEW_METRICS = "review/metrics.json"
REVIEW_QUEUE = "review/queue.json"
#: The folder of a ticket's agent runs, and the prefix a dry run's run folders carry.
RUNS = "runs"
DRY_RUN_PREFIX = "dry-run-"
#: Inside one agent run's folder: the runner's record of the process, the tokens it used, the contract's
#: result, and the flow's note of when it let the agent go.
RUN_RECORD = "run.json"
RUN_USAGE = "usage.json"
RUN_RESULT = "result.json"
RUN_LAUNCH = "launch.json"


def _suffix(dry_run: bool | None) -> str:
    return ".dry-run.json" if dry_run else ".json"


def ticket_dir(ticket_id: str) -> str:
    return f"{TICKETS}/{check_ticket_id(ticket_id)}"


def ticket_record(ticket_id: str) -> str:
    return f"{ticket_dir(ticket_id)}/ticket.json"


def started_record(ticket_id: str, dry_run: bool | None = False) -> str:
    return f"{ticket_dir(ticket_id)}/started{_suffix(dry_run)}"


def checkpoint_record(ticket_id: str, checkpoint: str, dry_run: bool | None = False) -> str:
    return f"{ticket_dir(ticket_id)}/checkpoints/{checkpoint}{_suffix(dry_run)}"


def runs_dir(ticket_id: str) -> str:
    return f"{ticket_dir(ticket_id)}/{RUNS}"


def run_dir(ticket_id: str, checkpoint: str, attempt: str, dry_run: bool | None = False) -> str:
    """One agent run's evidence folder: `runs/<C>-<attempt>`, `runs/dry-run-<C>-<attempt>` in a dry run."""
    return f"{runs_dir(ticket_id)}/{DRY_RUN_PREFIX if dry_run else ''}{checkpoint}-{attempt}"


def push_record(ticket_id: str) -> str:
    return f"{ticket_dir(ticket_id)}/push.json"


def branch_record(ticket_id: str) -> str:
    return f"{ticket_dir(ticket_id)}/branch.json"


def followup_record(ticket_id: str) -> str:
    return f"{ticket_dir(ticket_id)}/followup.json"


def outcome_record(ticket_id: str) -> str:
    return f"{ticket_dir(ticket_id)}/outcome.json"


def gate_report(ticket_id: str) -> str:
    return f"{ticket_dir(ticket_id)}/gates.json"


def gate_pipeline(ticket_id: str) -> str:
    return f"{ticket_dir(ticket_id)}/gates-pipeline.json"


def rate_limit_record(ticket_id: str, checkpoint: str, index: int, *, dry_run: bool = False) -> str:
    """A dry run's rate limits are named apart: they never pause or abort a real run."""
    return f"{RATE_LIMITS}/{check_ticket_id(ticket_id)}-{checkpoint}-{index}{_suffix(dry_run)}"


def escalation_record(ticket_id: str) -> str:
    return f"{ESCALATIONS}/{check_ticket_id(ticket_id)}.json"
