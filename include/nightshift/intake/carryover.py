"""Carry-over: what earlier batches left undone comes back first, once it can run.

Reads the outcome records the generation stage writes (`<batch>/tickets/<ID>/outcome.json`) for the
last `lookback` batches before this one. Batch ids start with their date, so their sort order is
their age; the current batch and later ones are never read, so re-running an intake cannot see its
own batch's outcomes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ValidationError

from nightshift import layout
from nightshift.artifacts import ArtifactStore
from nightshift.generation.state import TicketOutcome
from nightshift.models import TicketState

__all__ = ["CarryDecision", "TicketOutcome", "carry_decision", "latest_outcomes"]

#: States whose ticket simply runs again, first in the next batch (the batch did not get to it).
CARRY_STATES = frozenset(
    {TicketState.SKIPPED, TicketState.CARRIED_OVER, TicketState.PENDING, TicketState.RUNNING}
)
#: States whose work is delivered (a merge request exists): intake does not start the ticket again.
DELIVERED_STATES = frozenset({TicketState.COMPLETED, TicketState.PARTIAL})


def latest_outcomes(
    store: ArtifactStore, before: str, lookback: int = 30
) -> tuple[dict[str, TicketOutcome], list[str]]:
    """The newest outcome per ticket among the `lookback` batches sorted before `before`.

    Returns the outcomes and the problems met (unreadable records are skipped and named, never fatal).
    """
    earlier = sorted(b for b in store.batch_ids() if b < before)[-lookback:]
    latest: dict[str, TicketOutcome] = {}
    problems: list[str] = []
    for batch_id in earlier:
        try:
            batch = store.batch(batch_id)
        except ValueError:
            continue
        for name in batch.list(layout.TICKETS):
            try:
                path = layout.outcome_record(name)
            except ValueError as exc:  # a folder that is no ticket id: never read
                problems.append(f"{batch_id}/{layout.TICKETS}/{name} skipped: {str(exc)[:200]}")
                continue
            try:
                outcome = batch.read_model(path, TicketOutcome)
            except (ValueError, ValidationError) as exc:
                problems.append(f"{batch_id}/{path} unreadable: {str(exc)[:200]}")
                continue
            if outcome is not None and not outcome.dry_run:  # a dry run delivered nothing
                latest[outcome.ticket_id] = outcome  # later batches overwrite earlier ones
    return latest, problems


class CarryDecision(BaseModel):
    """What an earlier outcome means for a ticket collected again."""

    action: Literal["carry", "hold", "escalation", "normal"]
    batch_id: str | None = None
    reason: str = ""


def carry_decision(outcome: TicketOutcome | None) -> CarryDecision:
    """carry: runs first; hold: stays out (delivered); escalation: back with an answer; normal: as new."""
    if outcome is None or outcome.state == TicketState.FAILED:
        return CarryDecision(action="normal")
    if outcome.state in CARRY_STATES:
        return CarryDecision(action="carry", batch_id=outcome.batch_id)
    if outcome.state in DELIVERED_STATES:
        reason = f"already {outcome.state.value} in batch {outcome.batch_id}; its merge request awaits review"
        return CarryDecision(action="hold", batch_id=outcome.batch_id, reason=reason)
    return CarryDecision(action="escalation", batch_id=outcome.batch_id)
