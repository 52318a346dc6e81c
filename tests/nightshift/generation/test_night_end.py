"""The night has an end: no checkpoint starts that cannot finish before the gates window (judged by its
timeout), an agent still running when the window opens is stopped there, and the ticket is carried over
with the reason and its last recorded checkpoint. Time is a fake clock the agents move on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from nightshift.agents.contract import Checkpoint, CheckpointResult, Limits
from nightshift.artifacts import ArtifactStore
from nightshift.generation import flow
from nightshift.generation.flow import GenerationContext, Repository
from nightshift.generation.state import BatchState
from nightshift.intake.records import IntakeRecord
from nightshift.manifest import parse_manifest
from nightshift.models import Ticket, TicketState

START = dt.datetime(2026, 1, 5, 18, 0, tzinfo=dt.UTC)
WINDOW = dt.datetime(2026, 1, 6, 6, 0, tzinfo=dt.UTC)
MANIFEST = """batch_id: "2026-01-05-overnight"
created_at: "2026-01-05T17:00:00Z"
config: {max_tickets: 10, timeout_per_ticket: 3h, parallel_agents: 1}
tickets:
"""


@dataclass
class Clock:
    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class SlowAgent:
    """Each checkpoint takes `takes`; an agent whose timeout ends first is stopped at the timeout."""

    clock: Clock
    takes: dt.timedelta
    started: list[tuple[str, str, dt.datetime, int]] = field(default_factory=list)

    def run(self, request, run_dir, *, deadline_monotonic=None):
        timeout = dt.timedelta(seconds=request.limits.timeout_seconds)
        self.started.append(
            (request.ticket.id, request.checkpoint.value, self.clock.now, request.limits.timeout_seconds)
        )
        if self.takes > timeout:
            self.clock.now += timeout
            return CheckpointResult.failed(request.checkpoint, f"timed out after {timeout.seconds}s")
        self.clock.now += self.takes
        return CheckpointResult(checkpoint=request.checkpoint, status="ok")


@dataclass
class Folders:
    root: Path
    removed: list[str] = field(default_factory=list)

    def create(self, repo_url, ticket_id, base_ref, branch=None, *, batch_id):
        return self.root

    def remove(self, batch_id, ticket_id):
        self.removed.append(ticket_id)
        return True

    def mirror(self, repo_url):
        return self.root

    def remote_head(self, repo_url, branch):
        return None


def night(tmp_path: Path, clock: Clock, agent: SlowAgent, ids: list[str], window_end=WINDOW):
    text = MANIFEST + "".join(
        f'  - {{id: "{t}", priority: high, complexity: small, repository: "g/app"}}\n' for t in ids
    )
    manifest = parse_manifest(text)
    return GenerationContext(
        manifest=manifest,
        state=BatchState(ArtifactStore(f"file://{tmp_path}/artifacts").batch(manifest.batch_id)),
        runner=agent,
        workspaces=Folders(tmp_path),
        record=lambda ticket_id: IntakeRecord(ticket=Ticket(id=ticket_id, title="t"), source="files"),
        repository=lambda entry: Repository(path="g/app", git_url="unused"),
        limits=Limits(timeout_seconds=3600),
        clock=clock,
        window_end=window_end,
    )


def step(ctx: GenerationContext, ticket_id: str, checkpoint: Checkpoint) -> str:
    decision = flow.before_checkpoint(ctx, ticket_id, checkpoint)
    if decision.action != "continue":
        return decision.action
    return flow.run_checkpoint(ctx, ticket_id, checkpoint, "try1").action


def test_a_checkpoint_that_cannot_finish_before_the_window_does_not_start(tmp_path):
    clock = Clock(WINDOW - dt.timedelta(minutes=59))
    agent = SlowAgent(clock, dt.timedelta(minutes=5))
    ctx = night(tmp_path, clock, agent, ["N-1"])

    assert step(ctx, "N-1", Checkpoint.C0) == "skip"

    assert agent.started == []
    outcome = ctx.state.outcome("N-1")
    assert outcome.state == TicketState.CARRIED_OVER
    assert (
        "C0 (timeout 1:00:00) could not finish before the gates window at 2026-01-06 06:00Z" in outcome.reason
    )
    assert "last recorded checkpoint: none" in outcome.reason


def test_it_starts_when_its_timeout_fits_and_without_a_window_at_all(tmp_path):
    clock = Clock(WINDOW - dt.timedelta(minutes=60))
    agent = SlowAgent(clock, dt.timedelta(minutes=5))
    assert step(night(tmp_path / "a", clock, agent, ["N-1"]), "N-1", Checkpoint.C0) == "continue"
    clock.now = WINDOW + dt.timedelta(hours=1)  # a manual run that skips the windows has no end
    assert step(night(tmp_path / "b", clock, agent, ["N-1"], window_end=None), "N-1", Checkpoint.C0) == (
        "continue"
    )


def test_the_runner_deadline_is_the_window_when_it_comes_first(tmp_path):
    clock = Clock(WINDOW - dt.timedelta(minutes=90))
    agent = SlowAgent(clock, dt.timedelta(minutes=30))
    ctx = night(tmp_path, clock, agent, ["N-1"])
    assert step(ctx, "N-1", Checkpoint.C0) == "continue"  # 04:30-05:00: C0 on record
    # C1 was judged to fit (its 1 h timeout at 05:00) but its task reaches the agent only at 05:10 (a
    # slow worktree, a retry): the run is capped at the window, the agent hangs and is stopped there.
    clock.now = WINDOW - dt.timedelta(minutes=50)
    agent.takes = dt.timedelta(hours=2)
    assert flow.run_checkpoint(ctx, "N-1", Checkpoint.C1, "try1").action == "skip"

    assert agent.started[-1][3] == 50 * 60  # the runner's timeout ended at the window
    assert clock.now == WINDOW
    outcome = ctx.state.outcome("N-1")
    assert outcome.state == TicketState.CARRIED_OVER
    assert "C1 was stopped" in outcome.reason and "last recorded checkpoint: C0" in outcome.reason
    assert ctx.state.checkpoint_result("N-1", Checkpoint.C0) is not None  # kept for the next night
    assert ctx.workspaces.removed == ["N-1"]


def test_a_batch_whose_agents_run_past_the_window_carries_the_rest_over(tmp_path):
    """One agent slot, checkpoints of 50 min, a 1 h checkpoint timeout, generation from 18:00 to 06:00:
    tickets run in sequence until the next checkpoint could no longer finish by 06:00, the rest carry
    over, and nothing runs past the window."""
    clock = Clock(START)
    agent = SlowAgent(clock, dt.timedelta(minutes=50))
    ids = [f"N-{n}" for n in range(1, 11)]
    ctx = night(tmp_path, clock, agent, ids)
    for ticket_id in ids:
        for checkpoint in (Checkpoint.C0, Checkpoint.C1, Checkpoint.C2):
            if checkpoint == Checkpoint.C2:
                break  # C2 commits and pushes: its own tests; C0 and C1 are enough for the clock
            if step(ctx, ticket_id, checkpoint) != "continue":
                break

    outcomes = ctx.state.outcomes(ids)
    carried = sorted(t for t, o in outcomes.items() if o.state == TicketState.CARRIED_OVER)
    ran_both = [t for t in ids if ctx.state.checkpoint_result(t, Checkpoint.C1) is not None]
    assert ran_both and carried
    assert set(ran_both).isdisjoint(carried)
    assert all(started + dt.timedelta(seconds=timeout) <= WINDOW for _, _, started, timeout in agent.started)
    assert clock.now <= WINDOW
    assert all("gates window at 2026-01-06 06:00Z" in outcomes[t].reason for t in carried)
    # Checkpoints start every 50 min from 18:00; the 14th at 04:50; the 15th (05:40, 1 h timeout) would
    # end after 06:00, so it and everything after carry over: 7 tickets through C1, 3 carried over.
    assert len(agent.started) == 14 and len(ran_both) == 7 and carried == ["N-10", "N-8", "N-9"]


def test_a_dependent_waits_until_the_end_of_the_night_at_most(tmp_path):
    """A dependency with no outcome (its task failed without one, or still runs) holds its dependent
    until the gates window, no longer: then the dependent is carried over, naming the dependency."""
    clock = Clock(START)
    ctx = night(tmp_path, clock, SlowAgent(clock, dt.timedelta(minutes=5)), ["N-1"])
    text = MANIFEST + (
        '  - {id: "N-1", priority: high, complexity: small, repository: "g/app"}\n'
        '  - {id: "N-2", priority: high, complexity: small, repository: "g/app", dependencies: ["N-1"]}\n'
    )
    ctx.manifest = parse_manifest(text)

    waiting = flow.dependency_decision(ctx, "N-2")
    assert (waiting.action, waiting.data["waiting"], waiting.until) == ("wait", ["N-1"], WINDOW)

    clock.now = WINDOW
    decision = flow.dependency_decision(ctx, "N-2")
    assert decision.action == "skip"
    outcome = ctx.state.outcome("N-2")
    assert outcome.state == TicketState.CARRIED_OVER
    assert "dependency N-1 unfinished before the gates window at 2026-01-06 06:00Z" in outcome.reason
    # A manual run without windows has no end: it waits for the dependency, however long.
    clock.now = WINDOW + dt.timedelta(hours=3)
    free = night(
        tmp_path / "manual", clock, SlowAgent(clock, dt.timedelta(minutes=5)), ["N-1"], window_end=None
    )
    free.manifest = ctx.manifest
    assert flow.dependency_decision(free, "N-2").until is None
