"""Which batch a DAG run is: a stable id from the run, so every task of the run (and every retry) agrees."""

from __future__ import annotations

import hashlib
from typing import Any

from airflow.sdk.definitions.context import Context


def batch_id_for_run(run_id: str, run_type: str, when: Any) -> str:
    """Scheduled runs: `2024-01-15-overnight` (the spec's form). Manual runs get a suffix from the run id,
    so two manual runs on one day never share a batch folder."""
    day = when.strftime("%Y-%m-%d")
    if run_type == "scheduled":
        return f"{day}-overnight"
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{day}-{run_type}-{digest}"


def batch_id_from_context(context: Context) -> str:
    dag_run = context["dag_run"]
    params = context.get("params") or {}
    if params.get("batch_id"):
        return str(params["batch_id"])
    when = dag_run.logical_date or dag_run.run_after
    run_type = getattr(dag_run.run_type, "value", str(dag_run.run_type))
    return batch_id_for_run(dag_run.run_id, run_type, when)
