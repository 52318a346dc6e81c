"""
### Nightshift nightly batch

One run is one batch of the spec: **intake** (17:00) collects `ready-for-agent` tickets and writes the
manifest; **generation** (from 18:00) runs each ticket, one mapped `ticket` task instance per ticket, at
most `parallel_agents` at once (pool `nightshift_agents`): it waits, deferred and holding no pool slot,
for the ticket's dependencies (a dependency that did not complete carries the ticket over), then runs
C0 → C1 → escalation check → C2 → draft MR (an escalated ticket stops before C2); each step is a group
in the task's log, and a retry resumes from the last recorded checkpoint; **gates** (06:00) wait for
each MR's pipeline and score it, one mapped row per MR (retry one alone); **review queue** (08:00), even
when some gates failed.

The night has an end: the gates window hangs off `start_generation`, not off the tickets, so gates and
the review queue start on time whatever generation is doing. No checkpoint starts that could not finish
by 06:00, an agent still running then is stopped, and its ticket carries over. A ticket still in
generation when `gate_tickets` runs gets a gates row that waits for its outcome, so an MR published
after 06:00 (a C2 that finished just before) is gated too. Deadline alerts tell the
operators when generation had not finished at 06:00 or the queue was not ready at 08:00. The timetable
is the configured frequency (config `schedule`: daily, weekly or continuous).

The grid shows one mapped `ticket` instance per ticket id. Trigger a run by hand with the Params below;
clearing or retrying any task is safe (every side effect is idempotent).
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import Param, dag, task_group

from nightshift.config import AGENTS_POOL, DAG_ID, TICKET_TASK_ID  # the pool's slots: batch.parallel_agents
from nightshift_airflow.deadlines import night_deadlines
from nightshift_airflow.operators.batch import (
    FinishGenerationOperator,
    ReviewQueueOperator,
    StartGenerationOperator,
)
from nightshift_airflow.operators.gates import GatesOperator, GateTicketsOperator
from nightshift_airflow.operators.intake import CollectOperator, SequenceOperator, ValidateOperator
from nightshift_airflow.operators.ticket_steps import TicketOperator
from nightshift_airflow.priority import MANIFEST_ORDER
from nightshift_airflow.schedule import intake_timetable
from nightshift_airflow.sensors.pipeline import PipelineSensor
from nightshift_airflow.sensors.windows import WindowSensor

INTAKE_TIMETABLE = intake_timetable()  # config `schedule` (frequency, timezone), NIGHTSHIFT_TIMEZONE
#: How long the gates wait for an MR's CI pipeline, and how often they look (NIGHTSHIFT_PIPELINE_*).
PIPELINE_WAIT = {
    "timeout_minutes": float(os.environ.get("NIGHTSHIFT_PIPELINE_TIMEOUT_MINUTES", "30")),
    "poll_seconds": float(os.environ.get("NIGHTSHIFT_PIPELINE_POLL_SECONDS", "30")),
}
#: A ticket holds one agents-pool slot while it runs (C0 to the MR; none while deferred) and starts in the
#: manifest's order. Its own timeout_per_ticket and the 06:00 window end it first; this is the backstop.
TICKET_TASK = {
    "pool": AGENTS_POOL,
    "weight_rule": MANIFEST_ORDER,
    "execution_timeout": dt.timedelta(hours=12),
    "map_index_template": "{{ task.ticket_id }}",
}


@dag(
    dag_id=DAG_ID,
    # The demo and end-to-end tests trigger runs by hand; they switch the 17:00 timetable off so that
    # unpausing does not also start the most recent missed slot.
    schedule=None if os.environ.get("NIGHTSHIFT_DISABLE_SCHEDULE") else INTAKE_TIMETABLE,
    catchup=False,
    max_active_runs=1,
    deadline=night_deadlines(),  # config `alerts`: generation late at the gates window, no queue at 08:00
    doc_md=__doc__,
    tags=["nightshift", "batch"],
    default_args={"retries": 2, "retry_delay": dt.timedelta(seconds=30), "owner": "nightshift"},
    params={
        "ticket_ids": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Only these ticket ids (empty: every ready ticket)",
        ),
        "max_tickets": Param(
            None, type=["null", "integer"], minimum=1, description="Override config max_tickets"
        ),
        "dry_run": Param(False, type="boolean", description="No pushes, merge requests or tracker writes"),
        "wait_for_windows": Param(
            True, type="boolean", description="Wait for 18:00 / 06:00 / 08:00 (untick to start at once)"
        ),
        "batch_id": Param("", type="string", description="Override the batch id (e.g. re-run a batch)"),
    },
)
def nightshift_nightly_batch() -> None:
    collect = CollectOperator(task_id="intake_collect")
    validate = ValidateOperator(task_id="intake_validate")
    manifest = SequenceOperator(task_id="intake_write_manifest")
    generation_window = WindowSensor(task_id="wait_generation_window", window="generation")
    start = StartGenerationOperator(task_id="start_generation")

    # One task instance per ticket (why: nightshift_airflow.operators.ticket_steps); the grid labels each
    # with its ticket id.
    tickets = TicketOperator.partial(task_id=TICKET_TASK_ID, **TICKET_TASK).expand(ticket_id=start.output)
    finish = FinishGenerationOperator(task_id="finish_generation", trigger_rule="all_done")
    # Not downstream of the tickets: the gates open at 06:00 even if an agent is still running (it is
    # stopped at 06:00 by its own deadline). A manual run without windows waits for finish_generation.
    gates_window = WindowSensor(task_id="wait_gates_window", window="gates", after_generation=True)
    to_gate = GateTicketsOperator(task_id="gate_tickets")

    @task_group(group_id="gates")
    def gates(ticket_id: str) -> None:
        label = {"map_index_template": "{{ task.ticket_id }}"}
        wait = PipelineSensor(task_id="pipeline", ticket_id=ticket_id, **PIPELINE_WAIT, **label)
        # Runs the repository's tests in the sandbox: an agents-pool slot. all_done: a pipeline we could
        # not read is a not_run check, not a reason to skip the gates.
        check = GatesOperator(
            task_id="check", ticket_id=ticket_id, pool=AGENTS_POOL, trigger_rule="all_done", **label
        )
        wait >> check

    gated = gates.expand(ticket_id=to_gate.output)
    # all_done: the morning queue comes out even when some gates failed (their MRs show no score).
    review_window = WindowSensor(task_id="wait_review_window", window="review", trigger_rule="all_done")
    review = ReviewQueueOperator(task_id="review_queue")

    collect >> validate >> manifest >> generation_window >> start >> tickets >> finish
    start >> gates_window >> to_gate >> gated >> review_window >> review


nightshift_nightly_batch()
