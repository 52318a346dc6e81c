"""Waits, deferred and holding no worker or pool slot, for the MR's CI pipeline; records its result as
the gates' `pipeline` check. No pipeline, or one that does not finish in time, is `not_run`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk.definitions.context import Context
from airflow.sdk.exceptions import AirflowSkipException

from nightshift_airflow.connections import NightshiftSensor
from nightshift_airflow.triggers.batch_state import TicketDependencyTrigger
from nightshift_airflow.triggers.pipeline import PipelineTrigger, pipeline_event


class PipelineSensor(NightshiftSensor):
    """One look from the worker; only a pipeline still running defers to the triggerer."""

    template_fields = ("ticket_id",)
    ui_color = "#e8f0fe"

    def __init__(
        self, *, ticket_id: str, timeout_minutes: float = 30.0, poll_seconds: float = 30.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.ticket_id = ticket_id
        self.timeout_minutes = timeout_minutes
        self.poll_seconds = poll_seconds

    def poke(self, context: Context) -> bool:  # the deferrable path below is the one the DAG uses
        return True

    def execute(self, context: Context) -> Any:
        from nightshift.forge.gate_publish import GateForge
        from nightshift.gates import stage
        from nightshift_airflow.hooks.gitlab import GitLabHook
        from nightshift_airflow.operators.gates import gate_context

        ctx, conn_id = gate_context(context, self.nightshift_config())
        self._wait_for_the_outcome(ctx, context)
        target = stage.pipeline_target(ctx, self.ticket_id)
        if isinstance(target, stage.Decision):
            raise AirflowSkipException(target.reason)
        forge = GateForge(
            GitLabHook(gitlab_conn_id=conn_id).get_conn(), target.project, connection_id=conn_id
        )
        event = pipeline_event(forge.pipeline_statuses(target.mr_iid), target.sha)
        if event is not None:
            return self.execute_complete(context, event)
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=self.timeout_minutes)
        self.log.info(
            "%s: pipeline of !%s running; waiting until %s", self.ticket_id, target.mr_iid, deadline
        )
        self.defer(
            trigger=PipelineTrigger(
                conn_id, target.project, target.mr_iid, target.sha, deadline.isoformat(), self.poll_seconds
            ),
            method_name="execute_complete",
        )

    def _wait_for_the_outcome(self, ctx: Any, context: Context) -> None:
        """A ticket still in generation when gate_tickets ran (its MR may be published after the gates
        window opened): defer until it has an outcome, then gate its MR, or skip with the outcome's
        reason. Bounded by generation (finish_generation gives every ticket an outcome) and by the
        review window: the morning queue is not held back for a ticket that is still not done."""
        from nightshift.config import cached_config
        from nightshift.gates import stage
        from nightshift.models import BatchStatus
        from nightshift_airflow.operators.gates import not_final
        from nightshift_airflow.windows import window_opens

        outcome = ctx.state.outcome(self.ticket_id)
        if not ctx.dry_run and not_final(outcome):
            if ctx.manifest.status not in (BatchStatus.PENDING, BatchStatus.RUNNING):
                raise AirflowSkipException(
                    f"{self.ticket_id}: generation is over ({ctx.manifest.status.value}) and the ticket has "
                    "no outcome: no merge request to gate"
                )
            review = window_opens(context, "review", cached_config().windows)
            if review is not None and dt.datetime.now(dt.UTC) >= review:
                raise AirflowSkipException(
                    f"{self.ticket_id}: still in generation when the review window opened at "
                    f"{review:%Y-%m-%d %H:%M}Z: no merge request to gate; finish_generation records "
                    "its outcome"
                )
            self.log.info("%s: still in generation; the gates wait for its outcome", self.ticket_id)
            self.defer(
                trigger=TicketDependencyTrigger(
                    ctx.state.artifacts.store.url,
                    ctx.batch_id,
                    self.ticket_id,
                    [self.ticket_id],
                    poll_seconds=self.poll_seconds,
                    not_after=review.isoformat() if review else None,
                ),
                method_name="resume_after_generation",
            )
        if outcome is None or not stage.gated(outcome, ctx.state.push_record(self.ticket_id)):
            why = f"{outcome.state.value}: {outcome.reason}" if outcome else "no outcome (dry run)"
            raise AirflowSkipException(f"{self.ticket_id}: no merge request to gate: {why}")

    def resume_after_generation(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        return self.execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        from nightshift.gates import stage
        from nightshift_airflow.operators.gates import gate_context

        ctx, _ = gate_context(context, self.nightshift_config())
        result = stage.pipeline_check(event or {}, self.timeout_minutes)
        stage.save_pipeline(ctx, self.ticket_id, result)
        self.log.info("%s: pipeline check %s: %s", self.ticket_id, result.status, result.reason)
        return result.model_dump()
