"""Triggers that watch a batch's records in the artifact store. They only read: a trigger may run
more than once, so it has no side effects.

Neither fires before it has slept once: the task that deferred checked the records just before
deferring, and a trigger that fires while that task's process is still exiting gets the process killed
by the server (a failed try, then retry_delay). Sleeping first costs nothing, since the records were
just read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from nightshift.artifacts import ArtifactStore
from nightshift.generation.state import BatchState


def _state(artifacts_url: str, batch_id: str) -> BatchState:
    return BatchState(ArtifactStore(artifacts_url).batch(batch_id))


class TicketDependencyTrigger(BaseTrigger):
    """Fires when every dependency of a ticket has an outcome, or the batch was aborted, or (with
    `not_after`, an ISO time) when that time has come: the event then says `timed_out`."""

    def __init__(
        self,
        artifacts_url: str,
        batch_id: str,
        ticket_id: str,
        dependencies: list[str],
        poll_seconds: float = 5.0,
        not_after: str | None = None,
    ) -> None:
        super().__init__()
        self.artifacts_url = artifacts_url
        self.batch_id = batch_id
        self.ticket_id = ticket_id
        self.dependencies = list(dependencies)
        self.poll_seconds = poll_seconds
        self.not_after = not_after

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "artifacts_url": self.artifacts_url,
                "batch_id": self.batch_id,
                "ticket_id": self.ticket_id,
                "dependencies": self.dependencies,
                "poll_seconds": self.poll_seconds,
                "not_after": self.not_after,
            },
        )

    def _check(self) -> dict[str, Any] | None:
        state = _state(self.artifacts_url, self.batch_id)
        if state.aborted():
            return {"ticket_id": self.ticket_id, "aborted": True}
        outcomes = state.outcomes(self.dependencies)
        if len(outcomes) == len(self.dependencies):
            return {"ticket_id": self.ticket_id, "outcomes": {k: v.state.value for k, v in outcomes.items()}}
        if self.not_after and dt.datetime.now(dt.UTC) >= dt.datetime.fromisoformat(self.not_after):
            return {"ticket_id": self.ticket_id, "timed_out": True}
        return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            await asyncio.sleep(self.poll_seconds)  # the sensor has just looked: sleep first
            found = await asyncio.to_thread(self._check)
            if found is not None:
                yield TriggerEvent(found)
                return


class RateLimitPauseTrigger(BaseTrigger):
    """Fires once the batch-wide rate-limit pause is over. Re-reads the records while it waits, because
    another ticket's rate limit can extend the pause."""

    def __init__(
        self, artifacts_url: str, batch_id: str, poll_seconds: float = 5.0, until: str | None = None
    ) -> None:
        super().__init__()
        self.artifacts_url = artifacts_url
        self.batch_id = batch_id
        self.poll_seconds = poll_seconds
        #: The reset time the operator saw when it deferred (ISO 8601): nothing is read before it.
        self.until = until

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "artifacts_url": self.artifacts_url,
                "batch_id": self.batch_id,
                "poll_seconds": self.poll_seconds,
                "until": self.until,
            },
        )

    def _first_wait(self) -> float:
        """Until the reset the operator saw, and at least one poll."""
        left = 0.0
        if self.until:
            until = dt.datetime.fromisoformat(self.until)
            left = (until - dt.datetime.now(dt.UTC)).total_seconds()
        return max(left, self.poll_seconds)

    def _check(self) -> tuple[bool, float]:
        state = _state(self.artifacts_url, self.batch_id)
        if state.aborted():
            return True, 0.0
        until = state.paused_until()
        if until is None:
            return True, 0.0
        left = (until - dt.datetime.now(dt.UTC)).total_seconds()
        return False, max(0.05, min(self.poll_seconds, left))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        await asyncio.sleep(self._first_wait())
        while True:
            done, wait = await asyncio.to_thread(self._check)
            if done:
                yield TriggerEvent(
                    {"batch_id": self.batch_id, "resumed_at": dt.datetime.now(dt.UTC).isoformat()}
                )
                return
            await asyncio.sleep(wait)
