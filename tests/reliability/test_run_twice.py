"""Reliability row: run the same task instance twice, in sequence and concurrently.

Airflow runs a task at least once: a cleared task runs again after it succeeded, and a worker taken
for dead can still be running when the scheduler starts the task elsewhere. Here two worker processes
(real flow, scripted agent in the sandbox, python-gitlab against the GitLab stand-in) run the same
step against the same batch folder and forge, one after the other or started together behind a
barrier. Pass: one MR per ticket and one note per (ticket, batch, kind); the batch records stay whole
and name what the forge holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability._fault_worker import WorkerSpec
from tests.reliability.fault_world import FaultWorld, fault_world, write_behaviour


@pytest.fixture
def world(tmp_path: Path) -> Iterator[FaultWorld]:
    with fault_world(tmp_path) as running:
        yield running


ROW = "Run the same task instance twice, in sequence and concurrently"


def _together(world: FaultWorld, specs: list[WorkerSpec], barrier: Path) -> list[tuple[int, str]]:
    """Start every worker, release them at once, join them all."""
    procs = [world.start(spec) for spec in specs]
    barrier.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append((proc.returncode, out + err))
    return results


def _report(world: FaultWorld, reliability_row, injection: str) -> tuple[int, dict[str, int]]:
    mrs = len(world.merge_requests())
    notes = world.notes_per_kind()
    per_kind = {"partial note": notes["partial"], "follow-up issue": len(world.followups())}
    reliability_row(
        row=ROW,
        injection=injection,
        figure=f"{mrs} MR, {per_kind['partial note']} partial note, {per_kind['follow-up issue']} follow-up",
        criterion="1, 1, 1",
        passed=mrs == 1 and set(per_kind.values()) == {1},
    )
    return mrs, per_kind


@pytest.mark.reliability
def test_same_ticket_run_twice_in_sequence(world: FaultWorld, reliability_row) -> None:
    write_behaviour(world)
    for attempt in ("try1", "try2"):
        code, out = world.run(world.spec(attempt=attempt))
        assert code == 0, out
    mrs, per_kind = _report(world, reliability_row, "whole ticket run twice, one after the other")
    assert (mrs, per_kind) == (1, {"partial note": 1, "follow-up issue": 1})
    assert world.agent_starts() == {"C0": 1, "C1": 1, "C2": 1}, "the second run resumed from the records"
    assert world.agent_branches() == ["agent/CALC-1"]
    world.check_consistent()


@pytest.mark.reliability
def test_publish_run_twice_concurrently(world: FaultWorld, reliability_row) -> None:
    write_behaviour(world)
    code, out = world.run(world.spec(steps=["dependencies", "C0", "C1", "escalation", "C2"]))
    assert code == 0, out
    barrier = world.root / "go"
    spec = world.spec(steps=["publish"], barrier=str(barrier))
    results = _together(world, [spec, spec], barrier)
    mrs, per_kind = _report(world, reliability_row, "publish run by two workers at once")
    assert [code for code, _ in results] == [0, 0], results
    assert (mrs, per_kind) == (1, {"partial note": 1, "follow-up issue": 1})
    world.check_consistent()


@pytest.mark.reliability
def test_implement_and_publish_run_twice_concurrently(world: FaultWorld, reliability_row) -> None:
    write_behaviour(world)
    code, out = world.run(world.spec(steps=["dependencies", "C0", "C1", "escalation"]))
    assert code == 0, out
    barrier = world.root / "go"
    specs = [world.spec(steps=["C2", "publish"], barrier=str(barrier), attempt=a) for a in ("try1", "try2")]
    results = _together(world, specs, barrier)
    mrs, per_kind = _report(world, reliability_row, "C2 and publish run by two workers at once")
    assert [code for code, _ in results] == [0, 0], results
    assert (mrs, per_kind) == (1, {"partial note": 1, "follow-up issue": 1})
    assert world.agent_branches() == ["agent/CALC-1"]
    # The second worker waited for the first and resumed from its records: one C2 agent, one outcome.
    assert world.agent_starts()["C2"] == 1
    world.check_consistent()
