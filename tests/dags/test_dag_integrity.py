"""Every DAG imports, serialises (catches unregistered timetables and priority strategies), carries
tags and retries, and parses quickly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nightshift_airflow.priority import MANIFEST_ORDER

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(REPO / "dags"))
    print(f"\nDAG folder parsed in {time.perf_counter() - started:.2f}s ({len(bag.dags)} DAGs)")
    return bag


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "nightshift_nightly_batch" in dagbag.dags


def test_every_dag_serialises(dagbag):
    from airflow.serialization.serialized_objects import DagSerialization

    for dag_id, dag in dagbag.dags.items():
        data = DagSerialization.to_dict(dag)
        again = DagSerialization.from_dict(data)
        assert again.dag_id == dag_id
        assert set(again.task_ids) == set(dag.task_ids)


def test_tags_and_retries(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags, f"{dag.dag_id} has no tags"
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag.dag_id}.{task.task_id} retries={task.retries}"


def test_shape_of_the_nightly_batch(dagbag):
    dag = dagbag.dags["nightshift_nightly_batch"]
    # One task instance a ticket, mapped over start_generation's order: dependencies, C0, C1, escalation
    # check, C2 and the MR run inside it (nightshift_airflow.operators.ticket_steps says why).
    ticket = dag.get_task("ticket")
    assert type(ticket).__name__ == "MappedOperator" and ticket.operator_class.__name__ == "TicketOperator"
    assert not any(t.task_id.startswith("ticket.") for t in dag.tasks)
    assert ticket.upstream_task_ids == {"start_generation"}
    assert ticket.downstream_task_ids == {"finish_generation"}
    assert ticket.pool == "nightshift_agents" and ticket.weight_rule == MANIFEST_ORDER
    assert ticket.partial_kwargs["map_index_template"] == "{{ task.ticket_id }}"
    assert dag.get_task("finish_generation").trigger_rule == "all_done"
    assert set(dag.params.keys()) >= {"ticket_ids", "max_tickets", "dry_run", "wait_for_windows"}


def test_dag_writes_to_a_migrated_metadata_db(airflow_db, dagbag):
    """The serialised DAG (with the plugin's priority strategy) is stored and read back by the scheduler's code."""
    from airflow.dag_processing.dagbag import sync_bag_to_db
    from airflow.models.dag_version import DagVersion
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        if session.get(DagBundleModel, "dags-folder") is None:
            session.add(DagBundleModel(name="dags-folder"))
    sync_bag_to_db(dagbag, "dags-folder", None)
    stored = SerializedDagModel.get_dag("nightshift_nightly_batch")
    assert stored is not None
    assert stored.get_task("ticket").pool == "nightshift_agents"
    assert DagVersion.get_latest_version("nightshift_nightly_batch") is not None
