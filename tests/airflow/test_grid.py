"""The grid names every ticket: Airflow expands the batch DAG's mapped ticket group in the real metadata
DB (SQLite) and the cluster policy, loaded through its `airflow.policy` entry point, names every
instance after its ticket, including rows that will never run (skipped, upstream_failed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "nightshift_nightly_batch"
TICKETS = ["DEMO-1", "CALC-2", "DEMO-7"]


@pytest.fixture(scope="module")
def batch_dag():
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagBag(dag_folder=str(REPO / "dags")).dags[DAG_ID]
    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def test_the_policy_is_loaded_from_the_entry_point() -> None:
    from airflow import settings

    impls = settings.get_policy_plugin_manager().hook.task_instance_mutation_hook.get_hookimpls()
    assert "nightshift_airflow.grid" in [getattr(i.plugin, "__name__", "") for i in impls]


def _run_with_ticket_list(run_id: str) -> None:
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskmap import TaskMap
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType
    from sqlalchemy import insert

    with create_session() as session:
        session.merge(DagBundleModel(name="dags-folder"))
        session.flush()
        session.merge(DagModel(dag_id=DAG_ID, bundle_name="dags-folder"))
        session.flush()
        run = DagRun(
            dag_id=DAG_ID,
            run_id=run_id,
            run_type=DagRunType.MANUAL,
            logical_date=dt.datetime(2026, 11, 30, 17, tzinfo=dt.UTC),
        )
        session.add(run)
        session.flush()
        session.execute(
            insert(TaskInstance.__table__).values(
                task_id="start_generation",
                dag_id=DAG_ID,
                run_id=run_id,
                map_index=-1,
                state="success",
                pool="default_pool",
            )
        )
        session.execute(
            insert(XComModel.__table__).values(
                dag_run_id=run.id,
                task_id="start_generation",
                map_index=-1,
                key="return_value",
                dag_id=DAG_ID,
                run_id=run_id,
                value=TICKETS,
                timestamp=dt.datetime.now(dt.UTC),
            )
        )
        session.add(
            TaskMap(
                dag_id=DAG_ID,
                task_id="start_generation",
                run_id=run_id,
                map_index=-1,
                length=len(TICKETS),
                keys=None,
            )
        )


def test_every_expanded_instance_is_named_after_its_ticket(airflow_db, batch_dag) -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskmap import TaskMap
    from airflow.utils.session import create_session
    from sqlalchemy import select

    run_id = "manual__grid"
    _run_with_ticket_list(run_id)
    with create_session() as session:
        for task_id in ("ticket",):
            task = batch_dag.get_task(task_id)
            session.add(TaskInstance(task, run_id=run_id, map_index=-1, dag_version_id=None))
            session.flush()
            TaskMap.expand_mapped_task(task, run_id, session=session)
    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.rendered_map_index)
            .where(TaskInstance.run_id == run_id)
            .order_by(TaskInstance.task_id, TaskInstance.map_index)
        ).all()
    named = {(task_id, index): label for task_id, index, label in rows}
    for task_id in ("ticket",):
        assert [named[(task_id, i)] for i in range(len(TICKETS))] == TICKETS
