"""The checks folded into the checkpoints only translate the core's decisions into Airflow's terms.

C0 first asks the core's dependency decision: wait becomes a deferral to the dependency trigger (no
worker, no pool slot held), a failed dependency a skip with the reason, done dependencies let C0 run.
C2 first asks the core's escalation decision: an escalation is a skip with the reason (C2 and the MR do
not run), no escalation lets C2 run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from nightshift.agents.contract import Checkpoint
from nightshift.generation.flow import Decision
from nightshift_airflow.operators import ticket_steps
from nightshift_airflow.operators.ticket_steps import ImplementOperator, ScopeOperator
from nightshift_airflow.triggers.batch_state import TicketDependencyTrigger

CONTEXT = {"ti": SimpleNamespace(try_number=1)}


class Deferred(Exception):
    pass


def _ready(op, monkeypatch):
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


@pytest.fixture
def agent(monkeypatch) -> list[tuple[str, Checkpoint]]:
    """The checkpoint's own checks and agent run, recorded: a precheck that stops the ticket leaves it empty."""
    ran: list[tuple[str, Checkpoint]] = []

    def before_checkpoint(gen, ticket_id, cp):
        ran.append(("before", cp))
        return Decision(action="continue")

    def run_checkpoint(gen, ticket_id, cp, attempt):
        ran.append(("run", cp))
        return Decision(action="continue", data={"status": "ok"})

    monkeypatch.setattr(ticket_steps.flow, "before_checkpoint", before_checkpoint)
    monkeypatch.setattr(ticket_steps.flow, "run_checkpoint", run_checkpoint)
    return ran


@pytest.fixture
def scope(monkeypatch):
    return _ready(ScopeOperator(task_id="c0_scope", ticket_id="P-3"), monkeypatch)


@pytest.fixture
def implement(monkeypatch):
    return _ready(ImplementOperator(task_id="c2_implement", ticket_id="P-3"), monkeypatch)


def _decide(monkeypatch, step: str, decision: Decision, seen: list[str] | None = None) -> None:
    def decide(gen, ticket_id):
        if seen is not None:
            seen.append(ticket_id)
        return decision

    monkeypatch.setattr(ticket_steps.flow, step, decide)


# ---- C0: the ticket's dependencies -------------------------------------------------------------------
def test_unfinished_dependencies_defer_to_the_trigger_with_the_ones_still_running(scope, agent, monkeypatch):
    seen: list[str] = []
    _decide(
        monkeypatch, "dependency_decision", Decision(action="wait", data={"waiting": ["P-1", "P-2"]}), seen
    )
    with pytest.raises(Deferred) as deferred:
        scope.execute(CONTEXT)
    kwargs = deferred.value.args[0]
    trigger = kwargs["trigger"]
    assert isinstance(trigger, TicketDependencyTrigger)
    _, fields = trigger.serialize()
    assert fields["batch_id"] == "2026-01-05-overnight" and fields["ticket_id"] == "P-3"
    assert fields["dependencies"] == ["P-1", "P-2"] and fields["poll_seconds"] == 7.0
    assert kwargs["method_name"] == "resume_after_dependencies"
    assert seen == ["P-3"]
    # Waiting starts nothing: no checkpoint checks (the ticket's timeout clock), no agent.
    assert agent == []


def test_a_failed_dependency_skips_the_ticket_with_the_reason(scope, agent, monkeypatch):
    _decide(
        monkeypatch,
        "dependency_decision",
        Decision(action="skip", reason="dependency P-1 failed: carried over"),
    )
    with pytest.raises(AirflowSkipException, match="P-1 failed"):
        scope.execute(CONTEXT)
    assert agent == []


def test_finished_dependencies_let_the_ticket_go(scope, agent, monkeypatch):
    _decide(monkeypatch, "dependency_decision", Decision(action="continue"))
    assert scope.execute(CONTEXT) == {"status": "ok"}
    assert agent == [("before", Checkpoint.C0), ("run", Checkpoint.C0)]


def test_resuming_after_the_trigger_asks_the_core_again(scope, agent, monkeypatch):
    seen: list[str] = []
    _decide(
        monkeypatch, "dependency_decision", Decision(action="skip", reason="dependency P-2 escalated"), seen
    )
    with pytest.raises(AirflowSkipException, match="P-2 escalated"):
        scope.resume_after_dependencies(CONTEXT, {"ticket_id": "P-3"})
    assert seen == ["P-3"]  # one fresh look at the batch state, not the trigger's event
    assert agent == []


def test_resuming_after_the_trigger_with_every_dependency_done_runs_c0(scope, agent, monkeypatch):
    seen: list[str] = []
    _decide(monkeypatch, "dependency_decision", Decision(action="continue"), seen)
    assert scope.resume_after_dependencies(CONTEXT, {"ticket_id": "P-3"}) == {"status": "ok"}
    assert seen == ["P-3"] and agent == [("before", Checkpoint.C0), ("run", Checkpoint.C0)]


# ---- C2: the escalation check after C1 -----------------------------------------------------------------
def test_an_escalation_skips_c2_with_the_reason_and_runs_no_agent(implement, agent, monkeypatch):
    seen: list[str] = []
    reason = "P-3 escalated: touches a protected path"
    _decide(monkeypatch, "escalation_decision", Decision(action="skip", reason=reason), seen)
    with pytest.raises(AirflowSkipException, match="P-3 escalated: touches a protected path"):
        implement.execute(CONTEXT)
    assert seen == ["P-3"] and agent == []


def test_no_escalation_lets_c2_run(implement, agent, monkeypatch):
    seen: list[str] = []
    _decide(monkeypatch, "escalation_decision", Decision(action="continue"), seen)
    assert implement.execute(CONTEXT) == {"status": "ok"}
    assert seen == ["P-3"] and agent == [("before", Checkpoint.C2), ("run", Checkpoint.C2)]


def test_c1_asks_neither_check(monkeypatch, agent):
    from nightshift_airflow.operators.ticket_steps import PlanOperator

    plan = _ready(PlanOperator(task_id="c1_plan", ticket_id="P-3"), monkeypatch)
    for step in ("dependency_decision", "escalation_decision"):
        monkeypatch.setattr(ticket_steps.flow, step, lambda gen, ticket_id: pytest.fail("not C1's check"))
    assert plan.execute(CONTEXT) == {"status": "ok"}
    assert agent == [("before", Checkpoint.C1), ("run", Checkpoint.C1)]
