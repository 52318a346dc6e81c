"""Waits, in the triggerer, for the CI pipeline of a merge request's head commit. It only reads GitLab
(a trigger may run more than once) and carries its deadline, so a restarted triggerer keeps the timeout."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from nightshift.gates.stage import FINISHED_PIPELINE


def pipeline_event(pipelines: list[dict[str, Any]], sha: str) -> dict[str, Any] | None:
    """The event for the newest pipeline of `sha`: `{"status": None}` when there is none, the finished
    pipeline when it is done, None while it still runs."""
    mine = [p for p in pipelines if p.get("sha") == sha]
    if not mine:
        return {"status": None}
    newest = mine[0]
    found = {
        "status": newest.get("status"),
        "pipeline_id": newest.get("id"),
        "web_url": newest.get("web_url"),
    }
    return found if found["status"] in FINISHED_PIPELINE else None


class PipelineTrigger(BaseTrigger):
    """Fires with the final status, `status: None` (no pipeline), or `timed_out` at the deadline."""

    def __init__(
        self,
        gitlab_conn_id: str,
        project: str,
        mr_iid: int,
        sha: str,
        deadline: str,
        poll_seconds: float = 30.0,
    ) -> None:
        super().__init__()
        self.gitlab_conn_id = gitlab_conn_id
        self.project = project
        self.mr_iid = mr_iid
        self.sha = sha
        self.deadline = deadline  # ISO 8601, UTC
        self.poll_seconds = poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "gitlab_conn_id": self.gitlab_conn_id,
                "project": self.project,
                "mr_iid": self.mr_iid,
                "sha": self.sha,
                "deadline": self.deadline,
                "poll_seconds": self.poll_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from nightshift.forge.gate_publish import GateForge
        from nightshift_airflow.hooks.gitlab import GitLabHook

        client = await GitLabHook(gitlab_conn_id=self.gitlab_conn_id).aget_conn()
        forge = GateForge(client, self.project, connection_id=self.gitlab_conn_id)
        deadline = dt.datetime.fromisoformat(self.deadline)
        started = time.monotonic()
        while True:
            pipelines = await asyncio.to_thread(forge.pipeline_statuses, self.mr_iid)
            event = pipeline_event(pipelines, self.sha)
            if event is not None:
                yield TriggerEvent({**event, "waited_s": round(time.monotonic() - started, 3)})
                return
            if dt.datetime.now(dt.UTC) >= deadline:
                newest = next((p for p in pipelines if p.get("sha") == self.sha), {})
                yield TriggerEvent(
                    {
                        "status": newest.get("status"),
                        "pipeline_id": newest.get("id"),
                        "web_url": newest.get("web_url"),
                        "timed_out": True,
                        "waited_s": round(time.monotonic() - started, 3),
                    }
                )
                return
            left = (deadline - dt.datetime.now(dt.UTC)).total_seconds()
            await asyncio.sleep(max(0.05, min(self.poll_seconds, left)))
