"""An agent-reported rate-limit reset is the agent's word: capped (default 1 h) and never past the end of
the generation window, so a reset in 2099 cannot freeze the night; the fourth rate limit still aborts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import ValidationError

from nightshift.agents.contract import Checkpoint, CheckpointResult
from nightshift.artifacts import ArtifactStore
from nightshift.config import GenerationConfig
from nightshift.generation import flow
from nightshift.generation.flow import GenerationContext, Repository
from nightshift.generation.state import MAX_RATE_LIMITS, BatchState
from nightshift.intake.records import IntakeRecord
from nightshift.manifest import parse_manifest
from nightshift.models import Ticket, TicketState

NOW = dt.datetime(2026, 1, 5, 18, 0, tzinfo=dt.UTC)
FOREVER = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
MANIFEST = """batch_id: "2026-01-05-overnight"
created_at: "2026-01-05T18:00:00Z"
config: {max_tickets: 10, timeout_per_ticket: 30m, parallel_agents: 2}
tickets:
  - {id: "P-1", priority: high, complexity: small, estimated_files: ["app.py"], repository: "g/app"}
"""


@dataclass
class RateLimitedAgent:
    calls: int = 0

    def run(self, request, run_dir, *, deadline_monotonic=None):
        self.calls += 1
        return CheckpointResult(
            checkpoint=request.checkpoint, status="rate_limited", rate_limit_reset_at=FOREVER
        )


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
        return None  # agent/<id> does not exist on the forge


def context(tmp_path: Path, clock, **extra) -> GenerationContext:
    manifest = parse_manifest(MANIFEST)
    record = IntakeRecord(ticket=Ticket(id="P-1", title="t"), source="files")
    return GenerationContext(
        manifest=manifest,
        state=BatchState(ArtifactStore(f"file://{tmp_path}/artifacts").batch(manifest.batch_id)),
        runner=RateLimitedAgent(),
        workspaces=Folders(tmp_path),
        record=lambda ticket_id: record,
        repository=lambda entry: Repository(path="g/app", git_url="unused"),
        clock=clock,
        **extra,
    )


@pytest.mark.reliability
def test_a_reset_in_2099_pauses_at_most_an_hour(tmp_path, reliability_row):
    ctx = context(tmp_path, lambda: NOW)
    decision = flow.run_checkpoint(ctx, "P-1", Checkpoint.C0, "try1")
    pause = decision.until - NOW
    reliability_row(
        row="Agent rate limits: an agent-reported reset far in the future",
        injection="rate_limit_reset_at 2099-01-01",
        figure=f"batch paused for {pause}",
        criterion="<= 1:00:00",
        passed=pause <= dt.timedelta(hours=1),
    )
    assert decision.action == "defer" and pause == dt.timedelta(hours=1)
    assert ctx.state.paused_until(NOW) == NOW + dt.timedelta(hours=1)


def test_the_cap_is_configurable_and_the_window_end_wins(tmp_path):
    ctx = context(tmp_path, lambda: NOW, rate_limit_max_wait=dt.timedelta(minutes=10))
    assert flow.run_checkpoint(ctx, "P-1", Checkpoint.C0, "try1").until == NOW + dt.timedelta(minutes=10)
    end = NOW + dt.timedelta(minutes=3)
    ctx = context(tmp_path / "other", lambda: NOW + dt.timedelta(minutes=11), window_end=end)
    assert flow.run_checkpoint(ctx, "P-1", Checkpoint.C0, "try1").until == NOW + dt.timedelta(minutes=11)
    ctx = context(tmp_path / "third", lambda: NOW, window_end=end)
    assert flow.run_checkpoint(ctx, "P-1", Checkpoint.C0, "try1").until == end


def test_the_fourth_capped_rate_limit_still_aborts(tmp_path):
    clock = {"now": NOW}
    ctx = context(tmp_path, lambda: clock["now"])
    for n in range(MAX_RATE_LIMITS + 1):
        assert flow.before_checkpoint(ctx, "P-1", Checkpoint.C0).action == "continue"
        decision = flow.run_checkpoint(ctx, "P-1", Checkpoint.C0, f"try{n}")
        if n < MAX_RATE_LIMITS:
            assert decision.action == "defer" and decision.until == clock["now"] + dt.timedelta(hours=1)
            clock["now"] = decision.until
    assert decision.action == "skip" and ctx.state.aborted()
    assert ctx.state.outcome("P-1").state == TicketState.CARRIED_OVER


def test_config_reads_the_cap():
    assert GenerationConfig().rate_limit_max_wait_delta == dt.timedelta(hours=1)
    assert GenerationConfig(rate_limit_max_wait="15m").rate_limit_max_wait_delta == dt.timedelta(minutes=15)
    with pytest.raises(ValidationError):
        GenerationConfig(rate_limit_max_wait="forever")
