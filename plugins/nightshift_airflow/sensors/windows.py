"""Waits, deferred, for a window of the spec's schedule (18:00 generation, 06:00 gates, 08:00 review).

The gates window does not wait for generation: at 06:00 the night is over (agents still running are
stopped by their own deadline and carried over), so gates and the review queue start on time. A manual
run that skips the windows has no 06:00; its gates wait for generation to finish instead."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger
from airflow.sdk import BaseSensorOperator
from airflow.sdk.definitions.context import Context

from nightshift_airflow.windows import next_window, window_opens

__all__ = ["WindowSensor", "generation_finished", "next_window", "window_opens"]


class WindowSensor(BaseSensorOperator):
    """Scheduled runs wait for the window; a manual run with wait_for_windows=false goes on at once."""

    template_fields = ("window",)
    ui_color = "#eeeeee"

    def __init__(
        self,
        *,
        window: str,
        previous_window: str | None = None,
        after_generation: bool = False,
        recheck_seconds: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.window = window
        self.previous_window = previous_window
        #: Without windows (a manual run), wait for finish_generation rather than not at all.
        self.after_generation = after_generation
        self.recheck_seconds = recheck_seconds

    def _target(self, context: Context) -> dt.datetime | None:
        from nightshift.config import cached_config

        return window_opens(context, self.window, cached_config().windows)

    def poke(self, context: Context) -> bool:
        target = self._target(context)
        return target is None or dt.datetime.now(dt.UTC) >= target

    def execute(self, context: Context) -> None:
        target = self._target(context)
        if target is None and self.after_generation and not generation_finished(context):
            self.log.info("window %s: no window in this run; waiting for generation to finish", self.window)
            self.defer(
                trigger=TimeDeltaTrigger(dt.timedelta(seconds=self.recheck_seconds)), method_name="recheck"
            )
        if target is None or dt.datetime.now(dt.UTC) >= target:
            self.log.info("window %s: no wait", self.window)
            return
        self.log.info("window %s opens at %s", self.window, target.isoformat())
        self.defer(trigger=DateTimeTrigger(moment=target), method_name="execute_complete")

    def execute_complete(self, context: Context, event: Any = None) -> None:
        return None

    def recheck(self, context: Context, event: Any = None) -> None:
        self.execute(context)


def generation_finished(context: Context) -> bool:
    """finish_generation has run: the manifest is completed, aborted or reviewed."""
    from nightshift.models import BatchStatus
    from nightshift_airflow.runtime import batch_artifacts, read_manifest

    status = read_manifest(batch_artifacts(context)).status
    return status in (BatchStatus.COMPLETED, BatchStatus.ABORTED, BatchStatus.REVIEWED)
