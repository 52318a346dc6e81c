"""Operators take `gitlab_conn_id=` and `jira_conn_id=` as Airflow providers do, defaulting to the
configured ones (nightshift_airflow.connections)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from nightshift.config import cached_config
from standins.jira import default_seed, start_jira

BATCH = "2026-01-05-overnight"


@pytest.fixture
def deployment(tmp_path, monkeypatch):
    """A config whose intake reads Jira through `jira_default` and whose forge is `gitlab_default`;
    neither connection exists, so a task that used them would fail."""
    for name in list(os.environ):
        if name.startswith(("NIGHTSHIFT_", "AIRFLOW_CONN_")):
            monkeypatch.delenv(name)
    config = tmp_path / "nightshift.yaml"
    config.write_text(
        "intake:\n"
        "  sources:\n"
        "    - {kind: jira, name: jira, connection_id: jira_default}\n"
        "    - {kind: gitlab, name: issues, connection_id: gitlab_default, projects: [group/app]}\n"
    )
    monkeypatch.setenv("NIGHTSHIFT_CONFIG", str(config))
    monkeypatch.setenv("NIGHTSHIFT_ARTIFACTS_URL", f"file://{tmp_path / 'artifacts'}")
    monkeypatch.setenv("NIGHTSHIFT_WORKDIR", str(tmp_path / "work"))
    cached_config.cache_clear()
    yield monkeypatch
    cached_config.cache_clear()


def _context() -> dict:
    run = SimpleNamespace(run_id="manual__x", logical_date=dt.datetime(2026, 1, 5, 17, tzinfo=dt.UTC), run_after=None)
    return {"params": {"batch_id": BATCH}, "dag_run": run}


def test_with_connections_swaps_the_forge_and_each_source_by_kind(deployment):
    from nightshift_airflow.connections import with_connections

    config = cached_config()
    assert with_connections(config) is config
    swapped = with_connections(config, gitlab_conn_id="gitlab_b", jira_conn_id="jira_b")
    assert swapped.forge.gitlab_conn_id == "gitlab_b"
    assert [s.connection_id for s in swapped.intake.sources] == ["jira_b", "gitlab_b"]
    only_jira = with_connections(config, jira_conn_id="jira_b")
    assert only_jira.forge.gitlab_conn_id == "gitlab_default"
    assert [s.connection_id for s in only_jira.intake.sources] == ["jira_b", "gitlab_default"]
    assert config.forge.gitlab_conn_id == "gitlab_default", "the cached config is left alone"


def test_collect_given_another_jira_conn_id_reads_jira_through_it(deployment):
    """Only `jira_night` exists (a Jira stand-in on loopback): the operator given it collects; the same
    operator with the configured `jira_default` fails on the missing connection."""
    from nightshift_airflow.operators.intake import CollectOperator

    server = start_jira("server", default_seed("server"))
    try:
        user, secret = server.credentials()
        deployment.setenv(
            "AIRFLOW_CONN_JIRA_NIGHT",
            json.dumps({"conn_type": "jira", "host": server.base_url, "login": user, "password": secret}),
        )
        Path(os.environ["NIGHTSHIFT_CONFIG"]).write_text(
            "intake: {sources: [{kind: jira, name: jira, connection_id: jira_default}],"
            " routing: {default_repository: group/app}}\n"
        )
        cached_config.cache_clear()
        collected = CollectOperator(task_id="intake_collect", jira_conn_id="jira_night").execute(_context())
        assert "PROJ-1" in collected["collected"]
        with pytest.raises(Exception, match="jira_default"):
            CollectOperator(task_id="intake_collect_default").execute(_context())
    finally:
        server.stop()


def test_review_queue_given_another_gitlab_conn_id_reads_review_times_through_it(deployment):
    from nightshift_airflow.operators.batch import ReviewQueueOperator

    deployment.setenv(
        "AIRFLOW_CONN_GITLAB_NIGHT",
        json.dumps({"conn_type": "gitlab", "host": "http://127.0.0.1:9", "password": "token"}),
    )
    op = ReviewQueueOperator(task_id="review_queue", gitlab_conn_id="gitlab_night")
    reader = op._reader(op.nightshift_config(), dry_run=False)
    assert reader is not None and reader._account.connection_id == "gitlab_night"
    default = ReviewQueueOperator(task_id="review_queue_default")
    assert default._reader(default.nightshift_config(), dry_run=False) is None  # gitlab_default is missing


def test_gate_steps_pass_their_gitlab_conn_id_on(deployment, monkeypatch):
    """The gates' context (and so the pipeline trigger and the GateForge) gets the operator's connection."""
    from nightshift_airflow.operators import gates
    from nightshift_airflow.sensors.pipeline import PipelineSensor

    seen: list[str] = []

    def fake_gate_context(context, config=None):
        seen.append(config.forge.gitlab_conn_id)
        raise RuntimeError("stop here")

    monkeypatch.setattr(gates, "gate_context", fake_gate_context)
    for op in (
        gates.GateTicketsOperator(task_id="gate_tickets", gitlab_conn_id="gitlab_b"),
        gates.GatesOperator(task_id="check", ticket_id="P-1", gitlab_conn_id="gitlab_b"),
        PipelineSensor(task_id="pipeline", ticket_id="P-1", gitlab_conn_id="gitlab_b"),
        gates.GatesOperator(task_id="check_default", ticket_id="P-1"),
    ):
        with pytest.raises(RuntimeError, match="stop here"):
            op.execute(_context())
    assert seen == ["gitlab_b", "gitlab_b", "gitlab_b", "gitlab_default"]


def test_a_bad_conn_id_fails_when_the_dag_is_parsed():
    from nightshift_airflow.operators.gates import GateTicketsOperator

    with pytest.raises(ValueError, match=r"gate_tickets: gitlab_conn_id 'no spaces' is not a connection id"):
        GateTicketsOperator(task_id="gate_tickets", gitlab_conn_id="no spaces")


def test_conn_ids_come_from_default_args_too():
    from airflow.sdk import DAG

    from nightshift_airflow.operators.gates import GateTicketsOperator

    with DAG("conn_ids", schedule=None, default_args={"gitlab_conn_id": "gitlab_b"}):
        op = GateTicketsOperator(task_id="gate_tickets")
    assert op.gitlab_conn_id == "gitlab_b" and op.jira_conn_id is None
