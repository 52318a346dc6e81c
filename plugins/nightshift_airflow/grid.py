"""The grid names every ticket: each mapped row of the batch DAG shows its ticket id, whatever its state.

Airflow renders `map_index_template` only inside a task that runs (at its start, and again at its end).
A task the scheduler skips or marks upstream_failed (a gates check whose pipeline wait failed, a ticket
whose start_generation failed on a retry) never runs, so its row would show a bare map index. This
cluster policy (Airflow's `task_instance_mutation_hook`, registered through the package's
`airflow.policy` entry point) runs in the scheduler when it expands a mapped task or group into task
instances, and names each instance after the ticket it will work on, before it is queued: the item at
its map index in the list it expands over (the XCom of the
task that lists the tickets, read in the scheduler's own session). A task that runs renders the same
`{{ task.ticket_id }}` again, so both agree.

The hook never raises (a policy error would stop the scheduler): anything unexpected leaves the row as
Airflow would have left it.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.policies import hookimpl

from nightshift.config import DAG_ID, TICKET_TASK_ID

log = logging.getLogger(__name__)

#: The batch DAG's mapped `ticket` task and `gates` group -> the task whose return value (ticket ids)
#: they expand over.
EXPANDED_FROM = {TICKET_TASK_ID: "start_generation", "gates": "gate_tickets"}
_MAX_LABEL = 250  # the rendered_map_index column


def ticket_at(session: Any, dag_id: str, run_id: str, upstream: str, map_index: int) -> str | None:
    """The ticket id at `map_index` of `upstream`'s list of ticket ids in this run, if there is one."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    with session.no_autoflush:  # the instance being built is not ready to be flushed yet
        row = session.execute(
            select(XComModel.value).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.task_id == upstream,
                XComModel.map_index == -1,
                XComModel.key == "return_value",
            )
        ).first()
    if row is None:
        return None
    ids = XComModel.deserialize_value(row)
    if not isinstance(ids, list) or not 0 <= map_index < len(ids):
        return None
    found = ids[map_index]
    return found if isinstance(found, str) and 0 < len(found) <= _MAX_LABEL else None


@hookimpl
def task_instance_mutation_hook(task_instance: Any, dag_run: Any) -> None:
    """Name a mapped instance of the batch DAG's ticket task and gates group after its ticket."""
    try:
        index = task_instance.map_index
        if dag_run is None or task_instance.dag_id != DAG_ID or index is None or index < 0:
            return
        upstream = EXPANDED_FROM.get(task_instance.task_id.partition(".")[0])  # "ticket", "gates.check"
        if upstream is None or task_instance.__dict__.get("_rendered_map_index"):
            return
        from sqlalchemy.orm import object_session

        session = object_session(dag_run)
        if session is None:
            return
        ticket_id = ticket_at(session, DAG_ID, dag_run.run_id, upstream, index)
        if ticket_id is not None:
            task_instance._rendered_map_index = ticket_id
    except Exception:  # a policy must never stop the scheduler
        log.debug("nightshift: could not name %s", task_instance, exc_info=True)
