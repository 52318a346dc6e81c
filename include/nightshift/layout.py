"""Where a batch's records live inside its folder of the artifact store: the one spelling of the
layout, so the stage that writes a record and the stages that read it cannot drift apart.

    manifest.yaml                          the batch manifest (status updated by single tasks only)
    tickets/<ID>/ticket.json               what intake collected (IntakeRecord)
    tickets/<ID>/started.json              first start of the ticket: its timeout_per_ticket deadline
    tickets/<ID>/checkpoints/<C>.json      a completed checkpoint's result (resume point)
    tickets/<ID>/runs/<C>-try<N>/          request, transcript and result evidence of one agent run
    tickets/<ID>/push.json                 the commit made for agent/<ID>, recorded before the push;
                                           `pushed` turns true once the forge has it
    tickets/<ID>/branch.json               who owns agent/<ID> on the forge, decided before C0
    tickets/<ID>/outcome.json              the ticket's final state in this batch (TicketOutcome)
    tickets/<ID>/gates.json                the gate report (GateReport); a re-run overwrites it
    tickets/<ID>/gates-pipeline.json       the CI pipeline the gates read for the pushed commit
    ratelimits/<ID>-<C>-<K>.json           one record per rate-limit event (a dry run's: .dry-run.json)
    escalations/<ID>.json                  the escalation queue entry, with C0/C1 context
    review/dashboard.txt                   the morning dashboard
    review/metrics.json, review/queue.json the batch's metrics and its ordered review queue

Every function checks the ticket id, so no record name can leave its folder.
"""

from __future__ import annotations

from nightshift.models import check_ticket_id

MANIFEST = "manifest.yaml"
RATE_LIMITS = "ratelimits"
ESCALATIONS = "escalations"
REVIEW_DASHBOARD = "review/dashboard.txt"
REVIEW_METRICS = "review/metrics.json"
REVIEW_QUEUE = "review/queue.json"


def ticket_dir(ticket_id: str) -> str:
    return f"tickets/{check_ticket_id(ticket_id)}"


def ticket_record(ticket_id: str) -> str:
    return f"{ticket_dir(ticket_id)}/ticket.json"


def outcome_record(ticket_id: str) -> str:
    return f"{ticket_dir(ticket_id)}/outcome.json"


def gate_report(ticket_id: str) -> str:
    return f"{ticket_dir(ticket_id)}/gates.json"


def gate_pipeline(ticket_id: str) -> str:
    return f"{ticket_dir(ticket_id)}/gates-pipeline.json"


def escalation_record(ticket_id: str) -> str:
    return f"{ESCALATIONS}/{check_ticket_id(ticket_id)}.json"
