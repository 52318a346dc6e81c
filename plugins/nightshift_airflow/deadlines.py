"""The night's deadline alerts (Airflow DeadlineAlert): generation not finished when the gates window
opens, or no review queue shortly after the review window. Counted from the run's logical date (its
intake) by the longest interval the frequency allows, so an alert never fires before its window.

The callback runs in the triggerer. It looks at the batch before it speaks, since a DAG-level deadline
only knows that the run is still going (a run is always still going at 06:00: gates come next), and
hands the message to the configured notifier (config `alerts`)."""

from __future__ import annotations

import datetime as dt
import logging
from importlib import import_module
from typing import Any

from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

log = logging.getLogger(__name__)
CALLBACK = "nightshift_airflow.deadlines.night_deadline_missed"


def night_deadlines() -> list[DeadlineAlert]:
    """The DAG's deadline alerts from the configuration (none when `alerts.enabled` is false)."""
    from nightshift.config import cached_config
    from nightshift.models import parse_duration
    from nightshift.schedule import alert_offsets

    config = cached_config()
    if not config.alerts.enabled:
        return []
    gates, review = alert_offsets(config.schedule, config.windows)
    grace = dt.timedelta(seconds=parse_duration(config.alerts.review_grace))
    return [
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
            interval=interval,
            callback=AsyncCallback(CALLBACK, kwargs={"stage": stage}),
        )
        for stage, interval in (("generation", gates), ("review", review + grace))
    ]


def _batch_id(dag_run: dict[str, Any]) -> str:
    from nightshift_airflow.batch import batch_id_of_run

    conf = dag_run.get("conf") or {}
    when = dt.datetime.fromisoformat(str(dag_run.get("logical_date") or dag_run["run_after"]))
    return batch_id_of_run(dag_run["run_id"], dag_run["run_type"], when, conf.get("batch_id"))


def alert_message(stage: str, dag_run: dict[str, Any]) -> str | None:
    """What the batch of `dag_run` has to say at the `stage` deadline (None: nothing is late)."""
    from nightshift import layout
    from nightshift.artifacts import ArtifactStore
    from nightshift.config import cached_config
    from nightshift.manifest import parse_manifest
    from nightshift.review.morning import DASHBOARD
    from nightshift.schedule import lateness

    batch_id = _batch_id(dag_run)
    artifacts = ArtifactStore(cached_config().artifacts_url).batch(batch_id)
    text = artifacts.read_text(layout.MANIFEST)
    status = parse_manifest(text).status.value if text else None
    ready = artifacts.read_text(DASHBOARD) is not None
    return lateness("review" if stage == "review" else "generation", batch_id, status, ready)


def notify(message: str, context: dict[str, Any]) -> None:
    """Through the configured notifier (its templated fields see `{{ nightshift_alert }}`), else the log."""
    from nightshift.config import cached_config

    alerts = cached_config().alerts
    if not alerts.notifier:
        log.warning("%s", message)
        return
    module, _, name = alerts.notifier.rpartition(".")
    notifier = getattr(import_module(module), name)(**alerts.notifier_kwargs)
    notifier({**context, "nightshift_alert": message})


async def night_deadline_missed(context: dict[str, Any], stage: str, **kwargs: Any) -> None:
    """AsyncCallback target (importable, top level): runs in the triggerer when a deadline passes."""
    message = alert_message(stage, context.get("dag_run") or {})
    if message is not None:
        notify(message, context)
