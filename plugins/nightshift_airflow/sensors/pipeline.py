"""Waits, deferred and holding no worker or pool slot, for the MR's CI pipeline; records its result as
the gates' `pipeline` check. No pipeline, or one that does not finish in time, is `not_run`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk.definitions.context import Context
from airflow.sdk.exceptions import AirflowSkipException

from nightshift_airflow.connections import NightshiftSensor
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

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        from nightshift.gates import stage
        from nightshift_airflow.operators.gates import gate_context

        ctx, _ = gate_context(context, self.nightshift_config())
        result = stage.pipeline_check(event or {}, self.timeout_minutes)
        stage.save_pipeline(ctx, self.ticket_id, result)
        self.log.info("%s: pipeline check %s: %s", self.ticket_id, result.status, result.reason)
        return result.model_dump()
