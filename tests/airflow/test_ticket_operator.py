"""The ticket operator only translates the core's decisions into Airflow's terms, step by step.

Dependencies first: wait becomes a deferral to the dependency trigger (no worker, no pool slot held), a
failed dependency a skip with the reason, done dependencies let the ticket run. Then C0 and C1, the
escalation check (an escalation is a skip with the reason: C2 and the MR do not run), C2 and the draft
merge request, in that order; a step that stops the ticket stops every later one."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from nightshift.agents.contract import Checkpoint
from nightshift.generation.flow import Decision
from nightshift_airflow.operators import ticket_steps
from nightshift_airflow.operators.ticket_steps import TicketOperator
from nightshift_airflow.triggers.batch_state import TicketDependencyTrigger


class Deferred(Exception):
    pass


class FakeTI:
    try_number = 1

    def __init__(self) -> None:
        self.xcom: dict[str, str] = {}

    def xcom_push(self, key: str, value: str) -> None:
        self.xcom[key] = value


@pytest.fixture
def ticket(monkeypatch):
    op = TicketOperator(task_id="ticket", ticket_id="P-3")
    gen = SimpleNamespace(
        batch_id="2026-01-05-overnight",
        state=SimpleNamespace(artifacts=SimpleNamespace(store=SimpleNamespace(url="file:///tmp/store"))),
        manifest=SimpleNamespace(ticket=lambda tid: SimpleNamespace(url=f"http://tracker.test/{tid}")),
    )
    monkeypatch.setattr(op, "_generation", lambda context: gen)
    monkeypatch.setattr(ticket_steps, "_poll", lambda gen, kind: 7.0)

    def defer(**kwargs):
        raise Deferred(kwargs)

    monkeypatch.setattr(op, "defer", defer)
    return op


@pytest.fixture
def steps(monkeypatch) -> list[str]:
    """Every flow step the operator asks, in order; each says go on unless a test says otherwise."""
    ran: list[str] = []

    def record(name: str, decision: Decision):
        def step(gen, ticket_id, *rest):
            assert ticket_id == "P-3"
            cp = next((r for r in rest if isinstance(r, Checkpoint)), None)
            ran.append(f"{name} {cp.value}" if cp else name)
            return decision

        return step

    for name in ("dependency_decision", "escalation_decision"):
        monkeypatch.setattr(ticket_steps.flow, name, record(name, Decision(action="continue")))
    monkeypatch.setattr(ticket_steps.flow, "before_checkpoint", record("before", Decision(action="continue")))
    monkeypatch.setattr(
        ticket_steps.flow, "run_checkpoint", record("run", Decision(action="continue", data={"status": "ok"}))
    )
    monkeypatch.setattr(
        ticket_steps.flow,
        "publish",
        record("publish", Decision(action="continue", data={"merge_request_url": "http://gl.test/mr/1"})),
    )
    return ran


def _decide(monkeypatch, step: str, decision: Decision, ran: list[str]) -> None:
    def decide(gen, ticket_id, *rest):
        ran.append(step)
        return decision

    monkeypatch.setattr(ticket_steps.flow, step, decide)


EVERY_STEP = [
    "dependency_decision",
    "before C0",
    "run C0",
    "before C1",
    "run C1",
    "escalation_decision",
    "before C2",
    "run C2",
    "publish",
]


def test_a_ready_ticket_runs_every_step_in_the_specs_order(ticket, steps):
    ti = FakeTI()
    assert ticket.execute({"ti": ti}) == {"merge_request_url": "http://gl.test/mr/1"}
    assert steps == EVERY_STEP
    # The merge request and ticket buttons (nightshift_airflow.links) read these.
    assert ti.xcom == {"merge_request_url": "http://gl.test/mr/1", "ticket_url": "http://tracker.test/P-3"}


def test_each_step_is_a_group_in_the_task_log(ticket, steps, monkeypatch):
    lines: list[str] = []
    monkeypatch.setattr(ticket.log, "info", lambda msg, *args: lines.append(msg % args))
    ticket.execute({"ti": FakeTI()})
    groups = [line.removeprefix("::group::P-3 ") for line in lines if line.startswith("::group::")]
    assert groups == [
        "dependencies",
        "C0 scope",
        "C1 plan and risks",
        "escalation check",
        "C2 implement and test",
        "draft merge request",
    ]
    assert lines.count("::endgroup::") == len(groups)


# ---- dependencies --------------------------------------------------------------------------------------
def test_unfinished_dependencies_defer_to_the_trigger_with_the_ones_still_running(ticket, steps, monkeypatch):
    night_end = dt.datetime(2026, 1, 6, 6, tzinfo=dt.UTC)
    waiting = Decision(action="wait", data={"waiting": ["P-1", "P-2"]}, until=night_end)
    _decide(monkeypatch, "dependency_decision", waiting, steps)
    with pytest.raises(Deferred) as deferred:
        ticket.execute({"ti": FakeTI()})
    kwargs = deferred.value.args[0]
    trigger = kwargs["trigger"]
    assert isinstance(trigger, TicketDependencyTrigger)
    _, fields = trigger.serialize()
    assert fields["batch_id"] == "2026-01-05-overnight" and fields["ticket_id"] == "P-3"
    assert fields["dependencies"] == ["P-1", "P-2"] and fields["poll_seconds"] == 7.0
    assert fields["not_after"] == night_end.isoformat()  # the trigger gives up at the end of the night
    assert kwargs["method_name"] == "resume_after_dependencies"
    # Waiting starts nothing: no checkpoint checks (the ticket's timeout clock), no agent.
    assert steps == ["dependency_decision"]


def test_a_failed_dependency_skips_the_ticket_with_the_reason(ticket, steps, monkeypatch):
    reason = "dependency P-1 failed: carried over"
    _decide(monkeypatch, "dependency_decision", Decision(action="skip", reason=reason), steps)
    with pytest.raises(AirflowSkipException, match="P-1 failed"):
        ticket.execute({"ti": FakeTI()})
    assert steps == ["dependency_decision"]


def test_resuming_after_the_trigger_asks_the_core_again(ticket, steps, monkeypatch):
    reason = "dependency P-2 escalated"
    _decide(monkeypatch, "dependency_decision", Decision(action="skip", reason=reason), steps)
    with pytest.raises(AirflowSkipException, match="P-2 escalated"):
        ticket.resume_after_dependencies({"ti": FakeTI()}, {"ticket_id": "P-3"})
    assert steps == ["dependency_decision"]  # one fresh look at the batch state, not the trigger's event


def test_resuming_after_the_trigger_with_every_dependency_done_runs_the_ticket(ticket, steps):
    result = ticket.resume_after_dependencies({"ti": FakeTI()}, {"ticket_id": "P-3"})
    assert result == {"merge_request_url": "http://gl.test/mr/1"} and steps == EVERY_STEP


# ---- the escalation check after C1 ---------------------------------------------------------------------
def test_an_escalation_skips_with_the_reason_before_c2_and_the_merge_request(ticket, steps, monkeypatch):
    reason = "P-3 escalated: touches a protected path"
    _decide(monkeypatch, "escalation_decision", Decision(action="skip", reason=reason), steps)
    with pytest.raises(AirflowSkipException, match="P-3 escalated: touches a protected path"):
        ticket.execute({"ti": FakeTI()})
    assert steps == EVERY_STEP[: EVERY_STEP.index("escalation_decision") + 1]


# ---- a checkpoint that stops the ticket ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("decision", "raised"),
    [
        (
            Decision(action="skip", reason="P-3: carried_over: C1 not started: budget spent"),
            AirflowSkipException,
        ),
        (Decision(action="fail", reason="P-3 timed out before C1"), AirflowFailException),
    ],
)
def test_a_checkpoint_that_stops_the_ticket_stops_every_later_step(
    ticket, steps, monkeypatch, decision, raised
):
    def before(gen, ticket_id, cp):
        steps.append(f"before {cp.value}")
        return decision if cp == Checkpoint.C1 else Decision(action="continue")

    monkeypatch.setattr(ticket_steps.flow, "before_checkpoint", before)
    with pytest.raises(raised, match="C1"):
        ticket.execute({"ti": FakeTI()})
    assert steps == ["dependency_decision", "before C0", "run C0", "before C1"]
