"""Starting and finishing a batch in the core: selection, carry-over, missing outcomes, status."""

from __future__ import annotations

import pytest

from nightshift.agents.contract import Checkpoint
from nightshift.agents.workspace import WorkspaceManager
from nightshift.artifacts import ArtifactStore, BatchArtifacts
from nightshift.generation.batch import finish_batch, read_manifest, start_batch
from nightshift.generation.state import BatchState, TicketOutcome
from nightshift.manifest import dump_manifest
from nightshift.models import BatchManifest, BatchStatus, ManifestTicket, TicketState

BATCH = "2026-01-05-overnight"


def write_batch(tmp_path, status: BatchStatus = BatchStatus.PENDING) -> BatchArtifacts:
    artifacts = ArtifactStore(f"file://{tmp_path / 'artifacts'}").batch(BATCH)
    tickets = [
        ManifestTicket(id="P-1"),
        ManifestTicket(id="P-2", dependencies=["P-1"]),
        ManifestTicket(id="P-3"),
    ]
    manifest = BatchManifest(
        batch_id=BATCH, created_at="2026-01-05T17:00:00Z", tickets=tickets, status=status
    )
    artifacts.write_text("manifest.yaml", dump_manifest(manifest))
    return artifacts


def test_start_marks_the_batch_running_and_returns_the_sequence(tmp_path):
    artifacts = write_batch(tmp_path)
    started = start_batch(artifacts)
    assert started.ticket_ids == ["P-1", "P-2", "P-3"]
    assert read_manifest(artifacts).status == BatchStatus.RUNNING
    assert start_batch(artifacts) == started  # a retried task changes nothing
    assert BatchState(artifacts).outcomes(started.ticket_ids) == {}


def test_start_carries_over_the_tickets_left_out_by_the_selection(tmp_path):
    artifacts = write_batch(tmp_path)
    started = start_batch(artifacts, ["P-3", ""], dry_run=True)
    assert started.ticket_ids == ["P-3"]
    outcomes = BatchState(artifacts).outcomes(["P-1", "P-2", "P-3"])
    assert sorted(outcomes) == ["P-1", "P-2"]
    assert {o.state for o in outcomes.values()} == {TicketState.CARRIED_OVER}
    assert all(o.dry_run and "ticket_ids" in (o.reason or "") for o in outcomes.values())


def test_start_names_a_selected_ticket_that_is_not_in_the_batch(tmp_path):
    with pytest.raises(ValueError, match=f"not in batch {BATCH}: P-9"):
        start_batch(write_batch(tmp_path), ["P-1", "P-9"])


def test_start_without_a_manifest_says_to_run_intake(tmp_path):
    artifacts = ArtifactStore(f"file://{tmp_path}").batch(BATCH)
    with pytest.raises(RuntimeError, match="run intake first"):
        start_batch(artifacts)


def test_finish_fails_tickets_without_an_outcome_and_completes(tmp_path):
    artifacts = write_batch(tmp_path, BatchStatus.RUNNING)
    state = BatchState(artifacts)
    state.save_outcome(TicketOutcome(ticket_id="P-1", batch_id=BATCH, state=TicketState.COMPLETED))
    finished = finish_batch(artifacts)
    assert finished.status == BatchStatus.COMPLETED
    assert finished.counts == {"completed": 1, "failed": 2}
    assert "without an outcome" in (state.outcome("P-2").reason or "")
    assert read_manifest(artifacts).status == BatchStatus.COMPLETED
    assert finish_batch(artifacts) == finished  # repeated: same outcomes, same status


def test_finish_of_an_aborted_batch_carries_the_rest_over(tmp_path):
    artifacts = write_batch(tmp_path)  # still pending: finishing passes through running
    state = BatchState(artifacts)
    for _ in range(4):
        state.record_rate_limit("P-1", Checkpoint.C1, None)
    finished = finish_batch(artifacts)
    assert finished.status == BatchStatus.ABORTED
    assert finished.counts == {"carried_over": 3}
    assert "rate limits" in (state.outcome("P-3").reason or "")


def test_finish_keeps_a_reviewed_batch_reviewed(tmp_path):
    artifacts = write_batch(tmp_path, BatchStatus.REVIEWED)
    assert finish_batch(artifacts).status == BatchStatus.REVIEWED


def test_finish_removes_the_batch_worktrees(tmp_path):
    artifacts = write_batch(tmp_path, BatchStatus.RUNNING)
    workspaces = WorkspaceManager(tmp_path / "ws", min_free_mb=0)
    stray = workspaces.root / "worktrees" / BATCH / "not-a-ticket"
    stray.mkdir(parents=True)
    finish_batch(artifacts, workspaces)
    assert not (workspaces.root / "worktrees" / BATCH).exists()
