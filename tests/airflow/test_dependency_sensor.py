"""The dependency sensor only translates the core's dependency decision into Airflow's terms: wait
becomes a deferral to the dependency trigger (no worker, no pool slot held), a failed dependency a skip
with the reason, done dependencies a pass."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from nightshift.generation.flow import Decision
from nightshift_airflow.operators import ticket_steps
from nightshift_airflow.operators.ticket_steps import TicketDependencySensor
from nightshift_airflow.triggers.batch_state import TicketDependencyTrigger


class Deferred(Exception):
    pass


@pytest.fixture
def sensor(monkeypatch):
    op = TicketDependencySensor(task_id="dependencies", ticket_id="P-3")
    gen = SimpleNamespace(
        batch_id="2026-01-05-overnight",
        state=SimpleNamespace(artifacts=SimpleNamespace(store=SimpleNamespace(url="file:///tmp/store"))),
    )
    monkeypatch.setattr(op, "_generation", lambda context: gen)
    monkeypatch.setattr(ticket_steps, "_poll", lambda gen, kind: 7.0)

    def defer(**kwargs):
        raise Deferred(kwargs)

    monkeypatch.setattr(op, "defer", defer)
    return op


def _decide(monkeypatch, decision: Decision, seen: list[str] | None = None) -> None:
    def dependency_decision(gen, ticket_id):
        if seen is not None:
            seen.append(ticket_id)
        return decision

    monkeypatch.setattr(ticket_steps.flow, "dependency_decision", dependency_decision)


def test_unfinished_dependencies_defer_to_the_trigger_with_the_ones_still_running(sensor, monkeypatch):
    seen: list[str] = []
    _decide(monkeypatch, Decision(action="wait", data={"waiting": ["P-1", "P-2"]}), seen)
    with pytest.raises(Deferred) as deferred:
        sensor.execute({})
    kwargs = deferred.value.args[0]
    trigger = kwargs["trigger"]
    assert isinstance(trigger, TicketDependencyTrigger)
    _, fields = trigger.serialize()
    assert fields["batch_id"] == "2026-01-05-overnight" and fields["ticket_id"] == "P-3"
    assert fields["dependencies"] == ["P-1", "P-2"] and fields["poll_seconds"] == 7.0
    assert kwargs["method_name"] == "resume_after_dependencies"
    assert seen == ["P-3"]


def test_a_failed_dependency_skips_the_ticket_with_the_reason(sensor, monkeypatch):
    _decide(monkeypatch, Decision(action="skip", reason="dependency P-1 failed: carried over"))
    with pytest.raises(AirflowSkipException, match="P-1 failed"):
        sensor.execute({})


def test_finished_dependencies_let_the_ticket_go(sensor, monkeypatch):
    _decide(monkeypatch, Decision(action="continue"))
    assert sensor.execute({}) is None
    assert sensor.poke({}) is True


def test_resuming_after_the_trigger_asks_the_core_again(sensor, monkeypatch):
    seen: list[str] = []
    _decide(monkeypatch, Decision(action="skip", reason="dependency P-2 escalated"), seen)
    with pytest.raises(AirflowSkipException, match="P-2 escalated"):
        sensor.resume_after_dependencies({}, {"ticket_id": "P-3"})
    assert seen == ["P-3"]  # one fresh look at the batch state, not the trigger's event
