"""Operators for one ticket's generation steps. Each is a thin shell over nightshift.generation.flow:
it asks the flow for a Decision and turns it into Airflow's terms (return, skip, fail, defer).

A ticket is four task instances (C0, C1, C2, draft MR): each costs scheduling time and a task start-up,
so the two checks that need no agent run at the start of the checkpoint they guard, composed here from
the flow's own steps. C0 first asks `flow.dependency_decision` (wait: defer to the dependency trigger,
holding no worker and no pool slot, since the pool does not count deferred tasks; skip: the ticket is
carried over), C2 first asks `flow.escalation_decision` (escalate: recorded, then C2 and the MR skip)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, ClassVar

from airflow.sdk.definitions.context import Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from nightshift.agents.contract import Checkpoint
from nightshift.generation import flow
from nightshift.generation.flow import Decision, GenerationContext
from nightshift_airflow.connections import NightshiftOperator
from nightshift_airflow.links import MergeRequestLink, TicketLink
from nightshift_airflow.triggers.batch_state import RateLimitPauseTrigger, TicketDependencyTrigger

#: A rate-limit pause shorter than this is waited out inside the task, which keeps its pool slot (the
#: whole batch is paused, so nobody else could use it) and starts the agent within a poll of the reset.
#: A longer pause defers: no worker is held for an hour, and resuming costs one task start-up, which is
#: small next to the pause. Deferring for a few seconds is what made resumes slow and fragile: the
#: trigger fired while the deferring process was still exiting, the server killed it, and the ticket
#: spent a try and waited out retry_delay.
WAIT_IN_TASK_MAX_S = 300.0


class _TicketStep:
    """Shared by every per-ticket operator: resolve the batch (with the operator's connection ids),
    act on a Decision."""

    ticket_id: str

    def _generation(self, context: Context) -> GenerationContext:
        from nightshift_airflow.runtime import generation_context  # built at run time, never at parse time

        return generation_context(context, self.nightshift_config())  # type: ignore[attr-defined]

    def _act(self, decision: Decision, gen: GenerationContext, context: Context) -> Any:
        log = self.log  # type: ignore[attr-defined]
        if decision.reason:
            log.info("%s: %s", self.ticket_id, decision.reason)
        if decision.action == "skip":
            raise AirflowSkipException(decision.reason)
        if decision.action == "fail":
            raise AirflowFailException(decision.reason)
        if decision.action == "defer":
            self.defer(  # type: ignore[attr-defined]
                trigger=RateLimitPauseTrigger(
                    gen.state.artifacts.store.url,
                    gen.batch_id,
                    poll_seconds=_poll(gen, "pause"),
                    until=decision.until.isoformat() if decision.until else None,
                ),
                method_name="resume_after_pause",
            )
        if decision.action == "wait":
            self.defer(  # type: ignore[attr-defined]
                trigger=TicketDependencyTrigger(
                    gen.state.artifacts.store.url,
                    gen.batch_id,
                    self.ticket_id,
                    decision.data.get("waiting", []),
                    poll_seconds=_poll(gen, "dependency"),
                ),
                method_name="resume_after_dependencies",
            )
        return decision.data or None


def _poll(gen: GenerationContext, kind: str) -> float:
    from nightshift.config import cached_config

    cfg = cached_config().generation
    return cfg.pause_poll_seconds if kind == "pause" else cfg.dependency_poll_seconds


class CheckpointOperator(_TicketStep, NightshiftOperator):
    """Runs one agent checkpoint in the sandbox, or resumes from its recorded result."""

    checkpoint: ClassVar[Checkpoint]
    template_fields = ("ticket_id",)

    def __init__(self, *, ticket_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ticket_id = ticket_id

    def _precheck(self, gen: GenerationContext) -> Decision:
        """What must hold before this checkpoint, beyond the checks every checkpoint makes (a
        subclass composes a flow step here); continue: go on to the checkpoint."""
        return flow.CONTINUE

    def execute(self, context: Context) -> Any:
        gen = self._generation(context)
        if (first := self._precheck(gen)).action != "continue":
            return self._act(first, gen, context)
        while True:
            decision = flow.before_checkpoint(gen, self.ticket_id, self.checkpoint)
            if decision.action == "continue":
                ti = context["ti"]
                attempt = f"try{ti.try_number}-{int(time.time())}"
                decision = flow.run_checkpoint(gen, self.ticket_id, self.checkpoint, attempt)
            if not self._wait_in_task(decision, gen):
                return self._act(decision, gen, context)

    def _wait_in_task(self, decision: Decision, gen: GenerationContext) -> bool:
        """Sleep through a short pause (re-checking every poll: another rate limit can extend it, a
        fourth aborts the batch); False when the decision is not a short pause."""
        if decision.action != "defer" or decision.until is None:
            return False
        left = (decision.until - dt.datetime.now(dt.UTC)).total_seconds()
        if left > WAIT_IN_TASK_MAX_S:
            return False
        self.log.info("%s: waiting %.1f s in the task for the pause to end", self.ticket_id, max(left, 0))
        time.sleep(min(max(left, 0.0), _poll(gen, "pause")))
        return True

    def resume_after_pause(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        return self.execute(context)


class ScopeOperator(CheckpointOperator):
    """C0: understand the scope and identify the files, once the ticket's dependencies have finished.
    While one is unfinished the task defers (no worker, no pool slot); if one did not complete, the
    ticket is skipped with the reason and carried over, and its later steps skip."""

    checkpoint = Checkpoint.C0
    ui_color = "#fff4d6"

    def _precheck(self, gen: GenerationContext) -> Decision:
        return flow.dependency_decision(gen, self.ticket_id)

    def resume_after_dependencies(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """The trigger saw every dependency finish: look at the batch state afresh (not the event),
        then run C0."""
        return self.execute(context)


class PlanOperator(CheckpointOperator):
    """C1: plan the approach and identify risks."""

    checkpoint = Checkpoint.C1
    ui_color = "#ffe9c2"


class ImplementOperator(CheckpointOperator):
    """C2: implement and test; the pipeline commits and pushes agent/<ticket-id>. First, the escalation
    check after C1: when a human must decide, the ticket joins the morning queue (record, tracker comment
    and label, outcome), C2 and the MR skip, and the batch moves on."""

    checkpoint = Checkpoint.C2
    ui_color = "#ffd9a8"

    def _precheck(self, gen: GenerationContext) -> Decision:
        return flow.escalation_decision(gen, self.ticket_id)


class PublishOperator(_TicketStep, NightshiftOperator):
    """Upserts the draft merge request (and the follow-up ticket of a partial result)."""

    template_fields = ("ticket_id",)
    operator_extra_links = (MergeRequestLink(), TicketLink())
    ui_color = "#e2f7e2"

    def __init__(self, *, ticket_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ticket_id = ticket_id

    def execute(self, context: Context) -> Any:
        gen = self._generation(context)
        decision = flow.publish(gen, self.ticket_id)
        ti = context["ti"]
        entry = gen.manifest.ticket(self.ticket_id)
        ti.xcom_push(key="merge_request_url", value=decision.data.get("merge_request_url") or "")
        ti.xcom_push(key="ticket_url", value=entry.url or "")
        return self._act(decision, gen, context)
