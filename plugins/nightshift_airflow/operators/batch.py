"""Batch-level steps: start and finish generation, the gates placeholder, the review queue.

Each is safe to repeat: status transitions to the current status are no-ops, outcomes are written
once, and the dashboard is rewritten whole.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.definitions.context import Context

from nightshift_airflow.connections import NightshiftOperator


class StartGenerationOperator(BaseOperator):
    """Marks the manifest running and returns the ticket ids to map over (in the manifest's sequence);
    the rules live in nightshift.generation.batch.start_batch."""

    ui_color = "#dde8ff"

    def execute(self, context: Context) -> list[str]:
        from nightshift.generation.batch import start_batch
        from nightshift_airflow.runtime import batch_artifacts

        params = context.get("params") or {}
        started = start_batch(
            batch_artifacts(context), params.get("ticket_ids") or [], dry_run=bool(params.get("dry_run"))
        )
        self.log.info(
            "batch %s: %d ticket(s) in sequence: %s",
            started.batch_id,
            len(started.ticket_ids),
            ", ".join(started.ticket_ids),
        )
        return started.ticket_ids


class FinishGenerationOperator(BaseOperator):
    """After every ticket: unfinished tickets get an outcome, the manifest completes or aborts,
    and the batch's worktrees are removed (nightshift.generation.batch.finish_batch)."""

    ui_color = "#dde8ff"

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.config import cached_config
        from nightshift.generation.batch import finish_batch
        from nightshift_airflow.runtime import batch_artifacts, workspaces

        config = cached_config()
        finished = finish_batch(
            batch_artifacts(context, config),
            workspaces(config),
            dry_run=bool((context.get("params") or {}).get("dry_run")),
        )
        self.log.info("batch %s %s: %s", finished.batch_id, finished.status.value, finished.counts)
        return {"status": finished.status.value, "counts": finished.counts}


class ReviewQueueOperator(NightshiftOperator):
    """Stage 4 (08:00): the ordered review queue as the text dashboard (task log and
    `review/dashboard.txt`), the batch's metrics against the targets, and the review times of earlier
    batches, which become `reviewed` once every MR is approved, merged or closed. The metrics also go
    to Airflow's metrics (StatsD or OpenTelemetry when configured)."""

    ui_color = "#e2f7e2"

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.artifacts import ArtifactStore
        from nightshift.review.morning import prepare_review
        from nightshift_airflow.batch import batch_id_from_context

        config = self.nightshift_config()
        review = prepare_review(
            ArtifactStore(config.artifacts_url),
            batch_id_from_context(context),
            self._reader(config, bool((context.get("params") or {}).get("dry_run"))),
        )
        self.log.info("\n%s", review.dashboard)
        for refresh in review.refreshes:
            for problem in refresh.problems:
                self.log.warning("batch %s: review time not read: %s", refresh.batch_id, problem)
            if refresh.became_reviewed:
                self.log.info("batch %s is reviewed (every MR approved, merged or closed)", refresh.batch_id)
        self.emit_metrics(review)
        return {
            "dashboard": review.dashboard_url,
            "queue": [f"{i.position}. {i.ticket_id} ({i.rule.label})" for i in review.queue],
            "reviewed": [r.batch_id for r in review.refreshes if r.became_reviewed],
        }

    def _reader(self, config: Any, dry_run: bool) -> Any:
        """The forge reader for review times; None (no review times) in a dry run or without a connection."""
        if dry_run:
            return None
        from nightshift.review.forge import GitLabActivityReader
        from nightshift_airflow.hooks.gitlab import GitLabHook

        try:
            hook = GitLabHook(gitlab_conn_id=config.forge.gitlab_conn_id)
            return GitLabActivityReader(hook.get_conn(), hook.gitlab_conn_id)
        except Exception as exc:  # a missing forge leaves the review times unmeasured, not the queue
            self.log.warning("no review times: GitLab connection unavailable: %s", exc)
            return None

    @staticmethod
    def emit_metrics(review: Any) -> None:
        """Gauges per batch; one timer per MR review, emitted once, when it is first measured."""
        import datetime as dt

        from airflow.sdk.observability import stats

        m = review.metrics
        tags = {"batch_id": m.batch_id}
        stats.gauge("nightshift.batch.tickets", m.tickets, tags=tags)
        for name, value in (
            ("completion_rate", m.completion_rate),
            ("average_score", m.average_score),
            ("escalation_rate", m.escalation_rate),
            ("review_minutes", m.review_minutes),
        ):
            if value is not None:
                stats.gauge(f"nightshift.batch.{name}", value, tags=tags)
        for refresh in review.refreshes:
            for minutes in refresh.new_review_times():
                stats.timing(
                    "nightshift.review.time_per_mr",
                    dt.timedelta(minutes=minutes),
                    tags={"batch_id": refresh.batch_id},
                )
            if refresh.became_reviewed:
                stats.incr("nightshift.batch.reviewed", tags={"batch_id": refresh.batch_id})
