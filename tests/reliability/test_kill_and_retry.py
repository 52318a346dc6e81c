"""Reliability row: kill the worker (and with it the agent) at each phase boundary, then retry.

Each case runs a ticket through the real generation flow in a worker process (scripted agent in the
sandbox, real git, python-gitlab against the GitLab stand-in) and kills that process right after one
phase's side effect: SIGKILL from outside while the agent sits between its edit and its tests (the
sandbox dies with its parent), or `os._exit` right after the agent's tests, the commit, the push, the
draft MR, the follow-up issue or the partial note. A second worker then runs the ticket's tasks again,
as Airflow's retry (and the tasks after it) would. Pass: no checkpoint's agent ran more than once more
than it needed (re-runs per kill <= 1), and the forge holds one branch, one MR, one follow-up and one
note per kind (duplicates 0), with the batch records naming them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.fault_world import KILLED, FaultWorld, fault_world, write_behaviour


@pytest.fixture
def world(tmp_path: Path) -> Iterator[FaultWorld]:
    with fault_world(tmp_path) as running:
        yield running


PHASES = ["edit", "tests", "commit", "push", "mr", "followup", "note"]
#: Kills after which the agent may legitimately run again (its result was not on record yet).
RERUN_EXPECTED = {"edit", "tests", "commit"}


@pytest.mark.reliability
@pytest.mark.parametrize("phase", PHASES)
def test_kill_at_phase_boundary_then_retry(world: FaultWorld, phase: str, reliability_row) -> None:
    write_behaviour(world, park_after_edit=phase == "edit")
    if phase == "edit":
        code = world.run_and_kill_when(world.spec(attempt="try1"), world.agent_state / "edited")
        assert code == -9
    else:
        code, out = world.run(world.spec(attempt="try1", kill_after=phase))
        assert code == KILLED, out
    orphans = world.parked_agents()

    code, out = world.run(world.spec(attempt="try2"))
    assert code == 0, out

    starts = world.agent_starts()
    reruns = {cp: starts[cp] - 1 for cp in ("C0", "C1", "C2")}
    duplicates = world.duplicates()
    worst = max(reruns.values())
    reliability_row(
        row="Kill the agent or the worker at each phase boundary, then retry",
        injection=f"worker killed after {phase}" + (" (SIGKILL, agent parked)" if phase == "edit" else ""),
        figure=f"{worst} re-runs, {sum(duplicates.values())} duplicates, {orphans} orphans",
        criterion="<= 1, 0, 0",
        passed=worst <= 1 and not any(duplicates.values()) and orphans == 0,
    )
    assert worst <= 1, starts
    assert reruns["C0"] == reruns["C1"] == 0, "a recorded checkpoint never runs its agent again"
    assert reruns["C2"] == (1 if phase in RERUN_EXPECTED else 0), starts
    assert duplicates == {"branches": 0, "MRs": 0, "follow-ups": 0, "notes": 0}
    assert world.notes_per_kind()["partial"] == 1
    assert orphans == 0, "the agent died with its worker"
    world.check_consistent()
    # Evidence of every agent run that finished is under tickets/<id>/runs/ (a killed run has none).
    evidence = world.evidence_runs()
    assert evidence["C2"] == starts["C2"] - (1 if phase in ("edit", "tests") else 0), evidence
