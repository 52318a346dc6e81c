"""Which batch a DAG run is: a stable id from the run, so every task of the run (and every retry) agrees."""

from __future__ import annotations

from airflow.sdk.definitions.context import Context

from nightshift.models import batch_id_for_run

__all__ = ["batch_id_for_run", "batch_id_from_context"]


def batch_id_from_context(context: Context) -> str:
    """The batch of a task's DAG run: the `batch_id` param when given, else models.batch_id_for_run."""
    dag_run = context["dag_run"]
    params = context.get("params") or {}
    if params.get("batch_id"):
        return str(params["batch_id"])
    when = dag_run.logical_date or dag_run.run_after
    run_type = getattr(dag_run.run_type, "value", str(dag_run.run_type))
    return batch_id_for_run(dag_run.run_id, run_type, when)
