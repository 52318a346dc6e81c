"""Resuming after a rate-limit pause: a short pause is waited out inside the task (no deferral, so no
trigger can race the exiting process, no try spent, no retry_delay); the triggers sleep before they
first look, so they cannot fire while the deferring process is still exiting."""

from __future__ import annotations

import asyncio
import datetime as dt
from types import SimpleNamespace

import pytest

from nightshift.agents.contract import Checkpoint
from nightshift.generation.flow import Decision
from nightshift_airflow.operators import ticket_steps
from nightshift_airflow.operators.ticket_steps import WAIT_IN_TASK_MAX_S, TicketOperator


class Deferred(Exception):
    pass


@pytest.fixture
def scope(monkeypatch):
    op = TicketOperator(task_id="ticket", ticket_id="P-1")
    sleeps: list[float] = []
    monkeypatch.setattr(op, "_generation", lambda context: SimpleNamespace(batch_id="b"))
    monkeypatch.setattr(ticket_steps, "_poll", lambda gen, kind: 1.0)
    monkeypatch.setattr(ticket_steps.time, "sleep", sleeps.append)
    # The ticket's dependencies are done: C0 goes on to its own checks (tests/airflow/test_ticket_operator.py).
    monkeypatch.setattr(
        ticket_steps.flow, "dependency_decision", lambda gen, ticket_id: Decision(action="continue")
    )

    def defer(**kwargs):
        raise Deferred(kwargs)

    monkeypatch.setattr(op, "defer", defer)
    return op, sleeps


def test_a_short_pause_is_waited_out_in_the_task_then_the_agent_runs(scope, monkeypatch):
    op, sleeps = scope
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2.5)
    answers = iter([Decision(action="defer", until=until), Decision(action="defer", until=until)])
    monkeypatch.setattr(
        ticket_steps.flow, "before_checkpoint", lambda *a: next(answers, Decision(action="continue"))
    )
    ran = []
    monkeypatch.setattr(
        ticket_steps.flow,
        "run_checkpoint",
        lambda gen, tid, cp, attempt: (
            ran.append(attempt) or Decision(action="continue", data={"status": "ok"})
        ),
    )
    context = {"ti": SimpleNamespace(try_number=1)}
    decision = op._checkpoint(op._generation(context), Checkpoint.C0, context)  # no Deferred raised
    assert decision.action == "continue" and decision.data == {"status": "ok"}
    assert len(ran) == 1 and ran[0].startswith("try1-")
    assert len(sleeps) == 2 and all(0 < s <= 1.0 for s in sleeps)  # one poll at a time


def test_a_long_pause_still_defers(scope, monkeypatch):
    op, sleeps = scope
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=WAIT_IN_TASK_MAX_S + 60)
    monkeypatch.setattr(
        ticket_steps.flow, "before_checkpoint", lambda *a: Decision(action="defer", until=until)
    )
    gen = SimpleNamespace(
        batch_id="b", state=SimpleNamespace(artifacts=SimpleNamespace(store=SimpleNamespace(url="file:///x")))
    )
    monkeypatch.setattr(op, "_generation", lambda context: gen)
    with pytest.raises(Deferred) as deferred:
        op.execute({"ti": SimpleNamespace(try_number=1)})
    trigger = deferred.value.args[0]["trigger"]
    assert trigger.until == until.isoformat() and sleeps == []


def _first_actions(trigger, monkeypatch, checks) -> list[str]:
    """Run the trigger until its first event with asyncio.sleep recorded (and not slept)."""
    actions: list[str] = []

    async def fake_sleep(seconds):
        actions.append(f"sleep {seconds:g}")

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    real_check = checks

    def check():
        actions.append("check")
        return real_check()

    monkeypatch.setattr(trigger, "_check", check)

    async def first():
        async for event in trigger.run():
            return event

    asyncio.run(first())
    return actions


def test_pause_trigger_sleeps_until_the_reset_before_it_first_looks(monkeypatch):
    from nightshift_airflow.triggers.batch_state import RateLimitPauseTrigger

    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).isoformat()
    trigger = RateLimitPauseTrigger("file:///nowhere", "2026-01-05-overnight", poll_seconds=2, until=past)
    actions = _first_actions(trigger, monkeypatch, lambda: (True, 0.0))
    assert actions == ["sleep 2", "check"]  # the pause was over, and still it slept a poll first
    kwargs = trigger.serialize()[1]
    assert RateLimitPauseTrigger(**kwargs).serialize()[1] == kwargs


def test_dependency_trigger_sleeps_before_it_first_looks(monkeypatch):
    from nightshift_airflow.triggers.batch_state import TicketDependencyTrigger

    trigger = TicketDependencyTrigger(
        "file:///nowhere", "2026-01-05-overnight", "P-2", ["P-1"], poll_seconds=3
    )
    actions = _first_actions(trigger, monkeypatch, lambda: {"ticket_id": "P-2", "outcomes": {}})
    assert actions == ["sleep 3", "check"]
