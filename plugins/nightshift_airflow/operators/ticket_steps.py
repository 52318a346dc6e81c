"""The operator for one ticket's generation: one task instance runs the ticket's steps in the spec's
order, each a decision of nightshift.generation.flow turned into Airflow's terms (return, skip, fail,
defer).

1. Dependencies (`flow.dependency_decision`): while one is unfinished the task defers to the
   dependency trigger, holding no worker and no pool slot (the pool does not count deferred tasks),
   until the end of the night at the latest; if one did not complete, or still had no outcome when the
   night ended, the ticket is skipped with the reason and carried over.
2. C0 scope and C1 plan: `flow.before_checkpoint`, then `flow.run_checkpoint` (the agent, in the
   sandbox). A short rate-limit pause is waited out in the task, a long one defers.
3. The escalation check (`flow.escalation_decision`): a ticket a human must decide joins the morning
   queue and the task skips with the reason.
4. C2 implement and test; the flow commits and pushes `agent/<ticket-id>`.
5. The draft merge request (`flow.publish`), and the follow-up ticket of a partial result.

Why one task instance and not one per step: the scheduler re-checks every waiting task instance of a
run on every loop, and a step in a mapped task group costs it several metadata queries each time (the
map length, the upstream states). At 60 tickets and 10 agents that was about a third of the machine's
CPU, and each step's start-up (worker, task process, api-server calls) another third; a night of 200
tickets could not keep 10 agents busy on 2 cores (`make bench`: figures in the README). Each step
still shows as its own log group, and a retry, or a resume after a deferral, starts again at the top:
every step already on record returns its record, so no agent runs twice.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
#: The task's log groups, in order: what the Airflow log view folds by step.
STEP_TITLES = {
    Checkpoint.C0: "C0 scope",
    Checkpoint.C1: "C1 plan and risks",
    Checkpoint.C2: "C2 implement and test",
}


class TicketOperator(NightshiftOperator):
    """Runs one ticket from its dependencies to its draft merge request (mapped: one per ticket)."""

    template_fields = ("ticket_id",)
    operator_extra_links = (MergeRequestLink(), TicketLink())
    ui_color = "#ffe9c2"

    def __init__(self, *, ticket_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ticket_id = ticket_id

    def execute(self, context: Context) -> Any:
        gen = self._generation(context)
        with self._step("dependencies"):
            decision = flow.dependency_decision(gen, self.ticket_id)
        if decision.action != "continue":
            return self._act(decision, gen)
        for checkpoint in (Checkpoint.C0, Checkpoint.C1, Checkpoint.C2):
            if checkpoint == Checkpoint.C2:
                with self._step("escalation check"):
                    decision = flow.escalation_decision(gen, self.ticket_id)
                if decision.action != "continue":
                    return self._act(decision, gen)
            with self._step(STEP_TITLES[checkpoint]):
                decision = self._checkpoint(gen, checkpoint, context)
            if decision.action != "continue":
                return self._act(decision, gen)
        with self._step("draft merge request"):
            decision = flow.publish(gen, self.ticket_id)
        ti = context["ti"]
        ti.xcom_push(key="merge_request_url", value=decision.data.get("merge_request_url") or "")
        ti.xcom_push(key="ticket_url", value=gen.manifest.ticket(self.ticket_id).url or "")
        return self._act(decision, gen)

    def resume_after_dependencies(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """The trigger saw every dependency finish: look at the batch state afresh (not the event)."""
        return self.execute(context)

    def resume_after_pause(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        return self.execute(context)

    # ---- the parts ---------------------------------------------------------------------------------
    def _generation(self, context: Context) -> GenerationContext:
        from nightshift_airflow.runtime import generation_context  # built at run time, never at parse time

        return generation_context(context, self.nightshift_config())

    def _checkpoint(self, gen: GenerationContext, checkpoint: Checkpoint, context: Context) -> Decision:
        """One checkpoint: its checks, then the agent (or its recorded result); a short pause is
        waited out here, re-checking every poll (another rate limit can extend it, a fourth aborts)."""
        while True:
            decision = flow.before_checkpoint(gen, self.ticket_id, checkpoint)
            if decision.action == "continue":
                attempt = f"try{context['ti'].try_number}-{int(time.time())}"
                decision = flow.run_checkpoint(gen, self.ticket_id, checkpoint, attempt)
            if not self._wait_in_task(decision, gen):
                return decision

    def _wait_in_task(self, decision: Decision, gen: GenerationContext) -> bool:
        """Sleep one poll of a short pause; False when the decision is not a short pause."""
        if decision.action != "defer" or decision.until is None:
            return False
        left = (decision.until - dt.datetime.now(dt.UTC)).total_seconds()
        if left > WAIT_IN_TASK_MAX_S:
            return False
        self.log.info("%s: waiting %.1f s in the task for the pause to end", self.ticket_id, max(left, 0))
        time.sleep(min(max(left, 0.0), _poll(gen, "pause")))
        return True

    def _act(self, decision: Decision, gen: GenerationContext) -> Any:
        if decision.reason:
            self.log.info("%s: %s", self.ticket_id, decision.reason)
        if decision.action == "skip":
            raise AirflowSkipException(decision.reason)
        if decision.action == "fail":
            raise AirflowFailException(decision.reason)
        if decision.action == "defer":
            self.defer(
                trigger=RateLimitPauseTrigger(
                    gen.state.artifacts.store.url,
                    gen.batch_id,
                    poll_seconds=_poll(gen, "pause"),
                    until=decision.until.isoformat() if decision.until else None,
                ),
                method_name="resume_after_pause",
            )
        if decision.action == "wait":
            self.defer(
                trigger=TicketDependencyTrigger(
                    gen.state.artifacts.store.url,
                    gen.batch_id,
                    self.ticket_id,
                    decision.data.get("waiting", []),
                    poll_seconds=_poll(gen, "dependency"),
                    not_after=decision.until.isoformat() if decision.until else None,
                ),
                method_name="resume_after_dependencies",
            )
        return decision.data or None

    @contextmanager
    def _step(self, title: str) -> Iterator[None]:
        """A foldable group in the task's log (the Airflow log view's ::group:: markers)."""
        self.log.info("::group::%s %s", self.ticket_id, title)
        try:
            yield
        finally:
            self.log.info("::endgroup::")


def _poll(gen: GenerationContext, kind: str) -> float:
    from nightshift.config import cached_config

    cfg = cached_config().generation
    return cfg.pause_poll_seconds if kind == "pause" else cfg.dependency_poll_seconds
