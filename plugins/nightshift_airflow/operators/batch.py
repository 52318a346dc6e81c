"""Batch-level steps: start and finish generation, the gates placeholder, the review queue.

Each is safe to repeat: status transitions to the current status are no-ops, outcomes are written
once, and the dashboard is rewritten whole.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.definitions.context import Context

from nightshift.manifest import dump_manifest
from nightshift.models import BatchStatus, TicketState, transition_batch


class StartGenerationOperator(BaseOperator):
    """Marks the manifest running and returns the ticket ids to map over (in the manifest's sequence)."""

    ui_color = "#dde8ff"

    def execute(self, context: Context) -> list[str]:
        from nightshift_airflow.runtime import batch_artifacts, read_manifest

        artifacts = batch_artifacts(context)
        manifest = read_manifest(artifacts)
        wanted = [t for t in (context["params"].get("ticket_ids") or []) if t]
        unknown = sorted(set(wanted) - set(manifest.ticket_ids))
        if unknown:
            raise ValueError(f"ticket_ids param: not in batch {manifest.batch_id}: {', '.join(unknown)}")
        if manifest.status == BatchStatus.PENDING:
            manifest.status = transition_batch(manifest.status, BatchStatus.RUNNING)
            artifacts.write_text("manifest.yaml", dump_manifest(manifest))
        ids = [t for t in manifest.ticket_ids if not wanted or t in wanted]
        if wanted:
            self._carry_over_unselected(artifacts, manifest, set(ids), bool(context["params"].get("dry_run")))
        self.log.info("batch %s: %d ticket(s) in sequence: %s", manifest.batch_id, len(ids), ", ".join(ids))
        return ids


    @staticmethod
    def _carry_over_unselected(artifacts: Any, manifest: Any, selected: set[str], dry_run: bool) -> None:
        """Tickets left out by the ticket_ids param go to the next batch; their dependents here skip."""
        from nightshift.generation.state import BatchState, TicketOutcome

        state = BatchState(artifacts)
        for ticket_id in manifest.ticket_ids:
            if ticket_id not in selected:
                state.save_outcome(TicketOutcome(ticket_id=ticket_id, batch_id=manifest.batch_id,
                                                 state=TicketState.CARRIED_OVER, dry_run=dry_run,
                                                 reason="not selected for this run (ticket_ids param)"))


class FinishGenerationOperator(BaseOperator):
    """After every ticket: unfinished tickets get an outcome, the manifest completes or aborts,
    and the batch's worktrees are removed."""

    ui_color = "#dde8ff"

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.config import cached_config
        from nightshift.generation.state import BatchState, TicketOutcome
        from nightshift_airflow.runtime import batch_artifacts, read_manifest

        artifacts = batch_artifacts(context)
        manifest = read_manifest(artifacts)
        state = BatchState(artifacts)
        aborted = state.aborted()
        for ticket_id in manifest.ticket_ids:
            if state.outcome(ticket_id) is None:
                outcome = TicketOutcome(
                    ticket_id=ticket_id,
                    batch_id=manifest.batch_id,
                    state=TicketState.CARRIED_OVER if aborted else TicketState.FAILED,
                    reason="batch aborted after more than 3 rate limits"
                    if aborted
                    else "its task ended without an outcome (see the Airflow task log)",
                    dry_run=bool(context["params"].get("dry_run")),
                )
                state.save_outcome(outcome)
        target = BatchStatus.ABORTED if aborted else BatchStatus.COMPLETED
        if manifest.status == BatchStatus.PENDING:
            manifest.status = BatchStatus.RUNNING
        manifest.status = (
            transition_batch(manifest.status, target)
            if manifest.status != BatchStatus.REVIEWED
            else manifest.status
        )
        artifacts.write_text("manifest.yaml", dump_manifest(manifest))
        self._cleanup(cached_config(), manifest.batch_id)
        counts: dict[str, int] = {}
        for outcome in state.outcomes(manifest.ticket_ids).values():
            counts[outcome.state.value] = counts.get(outcome.state.value, 0) + 1
        self.log.info("batch %s %s: %s", manifest.batch_id, manifest.status.value, counts)
        return {"status": manifest.status.value, "counts": counts}

    @staticmethod
    def _cleanup(config: Any, batch_id: str) -> None:
        from pathlib import Path

        from nightshift_airflow.runtime import _workspaces

        _workspaces(str(Path(config.workdir) / "workspaces"), config.agent.min_free_disk_mb).cleanup_batch(
            batch_id
        )


class ReviewQueueOperator(BaseOperator):
    """Stage 4 (08:00): the ordered review queue as the text dashboard (task log and
    `review/dashboard.txt`), the batch's metrics against the targets, and the review times of earlier
    batches, which become `reviewed` once every MR is approved, merged or closed. The metrics also go
    to Airflow's metrics (StatsD or OpenTelemetry when configured)."""

    ui_color = "#e2f7e2"

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.artifacts import ArtifactStore
        from nightshift.config import cached_config
        from nightshift.review.morning import prepare_review
        from nightshift_airflow.batch import batch_id_from_context

        config = cached_config()
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
