"""Which batch a DAG run is: a stable id from the run, so every task of the run (and every retry) agrees."""

from __future__ import annotations

import datetime as dt

from airflow.sdk.definitions.context import Context

from nightshift.models import batch_id_for_run

__all__ = ["batch_id_for_run", "batch_id_from_context", "batch_id_of_run"]


def batch_id_of_run(run_id: str, run_type: object, when: dt.datetime, chosen: object = None) -> str:
    """The batch a DAG run works on: `chosen` (the run's `batch_id` param or conf) when given, else
    models.batch_id_for_run. The tasks, the deadline callbacks and the review page all ask this."""
    if chosen:
        return str(chosen)
    return batch_id_for_run(run_id, str(getattr(run_type, "value", run_type)), when)


def batch_id_from_context(context: Context) -> str:
    """The batch of a task's DAG run (its `batch_id` param wins)."""
    params = context.get("params") or {}
    if params.get("batch_id"):  # chosen: nothing of the run itself is read
        return str(params["batch_id"])
    dag_run = context["dag_run"]
    return batch_id_of_run(dag_run.run_id, dag_run.run_type, dag_run.logical_date or dag_run.run_after)
