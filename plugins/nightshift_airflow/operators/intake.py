"""Stage 1 (17:00) as three retryable tasks over nightshift.intake.pipeline:
collect -> validate (readiness, one comment per not-ready ticket) -> sequence and write the manifest."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, BaseOperator
from airflow.sdk.definitions.context import Context

from nightshift_airflow.connections import NightshiftOperator
from nightshift_airflow.hooks.trackers import tracker_for

#: The manifest is the human-reviewable record of a batch; downstream DAGs may schedule on it.
MANIFEST_ASSET = Asset("nightshift://batch-manifest", group="nightshift")


def _sources(config: Any, context: Context) -> list[Any]:
    from nightshift.intake.sources import DryRunSource, build_sources
    from nightshift_airflow.hooks.trackers import sources_base

    sources = build_sources(config.intake, tracker_for, base_dir=sources_base())
    if (context.get("params") or {}).get("dry_run"):
        return [DryRunSource(source) for source in sources]
    return sources


class CollectOperator(NightshiftOperator):
    """Collects ready-for-agent tickets from every source (and earlier batches' carry-overs)."""

    ui_color = "#fff0f5"

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.intake.pipeline import collect
        from nightshift_airflow.runtime import batch_artifacts

        config = self.nightshift_config()
        artifacts = batch_artifacts(context, config)
        dag_run = context["dag_run"]
        collected = collect(
            artifacts,
            _sources(config, context),
            config.intake,
            created_at=dag_run.logical_date or dag_run.run_after,
        )
        for rejection in collected.rejected:
            self.log.warning("left out: %s", rejection)
        self.log.info(
            "batch %s: collected %d ticket(s), %d rejected, %d held",
            artifacts.batch_id,
            len(collected.records),
            len(collected.rejected),
            len(collected.held),
        )
        return {"batch_id": artifacts.batch_id, "collected": collected.ids}


class ValidateOperator(NightshiftOperator):
    """Applies the readiness criteria; a not-ready ticket is told exactly what is missing, once."""

    ui_color = "#fff0f5"

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.intake.pipeline import validate
        from nightshift_airflow.runtime import batch_artifacts

        config = self.nightshift_config()
        artifacts = batch_artifacts(context, config)
        validated = validate(artifacts, _sources(config, context), config.intake)
        for item in validated.not_ready:
            self.log.warning("not ready: %s: %s", item.ticket_id, "; ".join(item.missing))
        return {"ready": validated.ready, "not_ready": [n.ticket_id for n in validated.not_ready]}


class SequenceOperator(BaseOperator):
    """Sequences the ready tickets and writes manifest.yaml (an Asset) in the spec's format."""

    ui_color = "#fff0f5"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(outlets=[MANIFEST_ASSET], **kwargs)

    def execute(self, context: Context) -> str:
        from nightshift import layout
        from nightshift.config import agents_pool, cached_config, pool_shortfall
        from nightshift.intake.pipeline import sequence_and_write
        from nightshift.sequencing import night_length
        from nightshift_airflow.runtime import batch_artifacts

        config = cached_config()
        artifacts = batch_artifacts(context, config)
        batch_config = config.batch
        override = (context.get("params") or {}).get("max_tickets")
        if override:
            batch_config = batch_config.model_copy(update={"max_tickets": int(override)})
        night = night_length(config.windows.generation, config.windows.gates)
        manifest = sequence_and_write(artifacts, batch_config, horizon=night)
        # The pool is sized from the same config (a task cannot read pools in Airflow 3): a manifest
        # kept from an earlier run, or written by hand, may still ask for more agents than it has.
        _, slots = agents_pool(config)
        if shortfall := pool_shortfall(manifest.batch_id, manifest.config.parallel_agents, slots):
            self.log.warning("%s", shortfall)
        self.log.info(
            "batch %s: manifest with %d ticket(s): %s",
            manifest.batch_id,
            len(manifest.tickets),
            ", ".join(manifest.ticket_ids),
        )
        return f"{artifacts.url}/{layout.MANIFEST}"
