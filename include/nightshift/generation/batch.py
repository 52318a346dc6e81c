"""Starting and finishing a batch's generation: the batch-level rules, kept here so that the Airflow
operators only translate a task's context into these calls (as the per-ticket steps already do).

Both are safe to repeat: a status transition to the current status is a no-op, outcomes are written
once, and removing a batch's worktrees twice removes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from nightshift import layout
from nightshift.agents.workspace import WorkspaceManager
from nightshift.artifacts import BatchArtifacts
from nightshift.generation.state import BatchState, TicketOutcome
from nightshift.manifest import dump_manifest, parse_manifest
from nightshift.models import BatchManifest, BatchStatus, TicketState, transition_batch

NOT_SELECTED = "not selected for this run (ticket_ids param)"
ABORTED_REASON = "batch aborted after more than 3 rate limits"
NO_OUTCOME_REASON = "its task ended without an outcome (see the Airflow task log)"


class BatchStart(BaseModel):
    """The tickets to run, in the manifest's sequence."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    ticket_ids: list[str]


class BatchFinish(BaseModel):
    """The batch's final status and how many tickets ended in each state."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    status: BatchStatus
    counts: dict[str, int]
    worktrees_removed: int = 0


def read_manifest(artifacts: BatchArtifacts) -> BatchManifest:
    """The batch's manifest; a clear error when intake has not written one."""
    text = artifacts.read_text(layout.MANIFEST)
    if text is None:
        raise RuntimeError(
            f"batch {artifacts.batch_id}: no {layout.MANIFEST} at {artifacts.url}; run intake first"
        )
    return parse_manifest(text, source=f"{artifacts.url}/{layout.MANIFEST}")


def start_batch(
    artifacts: BatchArtifacts, selected: Sequence[str] = (), *, dry_run: bool = False
) -> BatchStart:
    """Marks the manifest running and returns the tickets to run. `selected` (the ticket_ids param)
    narrows the run; the tickets it leaves out are carried over to the next batch, so their dependents
    here skip. An id that is not in the batch is an error naming it."""
    manifest = read_manifest(artifacts)
    wanted = [ticket_id for ticket_id in selected if ticket_id]
    unknown = sorted(set(wanted) - set(manifest.ticket_ids))
    if unknown:
        raise ValueError(f"ticket_ids param: not in batch {manifest.batch_id}: {', '.join(unknown)}")
    if manifest.status == BatchStatus.PENDING:
        manifest.status = transition_batch(manifest.status, BatchStatus.RUNNING)
        artifacts.write_text(layout.MANIFEST, dump_manifest(manifest))
    ids = [ticket_id for ticket_id in manifest.ticket_ids if not wanted or ticket_id in wanted]
    if wanted:
        state = BatchState(artifacts)
        for ticket_id in manifest.ticket_ids:
            if ticket_id not in ids:
                state.save_outcome(
                    TicketOutcome(
                        ticket_id=ticket_id,
                        batch_id=manifest.batch_id,
                        state=TicketState.CARRIED_OVER,
                        dry_run=dry_run,
                        reason=NOT_SELECTED,
                    )
                )
    return BatchStart(batch_id=manifest.batch_id, ticket_ids=ids)


def finish_batch(
    artifacts: BatchArtifacts, workspaces: WorkspaceManager | None = None, *, dry_run: bool = False
) -> BatchFinish:
    """After every ticket: a ticket without an outcome failed (or, in an aborted batch, carries over),
    the manifest completes or aborts (a reviewed batch stays reviewed), and the batch's worktrees go."""
    manifest = read_manifest(artifacts)
    state = BatchState(artifacts)
    aborted = BatchState(artifacts, dry_run=dry_run).aborted()  # a dry run's rate limits are its own
    for ticket_id in manifest.ticket_ids:
        if state.outcome(ticket_id) is None:
            state.save_outcome(
                TicketOutcome(
                    ticket_id=ticket_id,
                    batch_id=manifest.batch_id,
                    state=TicketState.CARRIED_OVER if aborted else TicketState.FAILED,
                    reason=ABORTED_REASON if aborted else NO_OUTCOME_REASON,
                    dry_run=dry_run,
                )
            )
    if manifest.status == BatchStatus.PENDING:
        manifest.status = BatchStatus.RUNNING
    if manifest.status != BatchStatus.REVIEWED:
        manifest.status = transition_batch(
            manifest.status, BatchStatus.ABORTED if aborted else BatchStatus.COMPLETED
        )
    artifacts.write_text(layout.MANIFEST, dump_manifest(manifest))
    removed = workspaces.cleanup_batch(manifest.batch_id) if workspaces is not None else 0
    counts: dict[str, int] = {}
    for outcome in state.outcomes(manifest.ticket_ids).values():
        counts[outcome.state.value] = counts.get(outcome.state.value, 0) + 1
    return BatchFinish(
        batch_id=manifest.batch_id, status=manifest.status, counts=counts, worktrees_removed=removed
    )
