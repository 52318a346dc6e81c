"""Waits, deferred, for a window of the spec's schedule (18:00 generation, 06:00 gates, 08:00 review)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import BaseSensorOperator
from airflow.sdk.definitions.context import Context

from nightshift_airflow.schedule import batch_timezone


def next_window(after: dt.datetime, hhmm: str, tz: str) -> dt.datetime:
    """The first time `hhmm` (local to `tz`) at or after `after`."""
    zone = ZoneInfo(tz)
    local = after.astimezone(zone)
    hour, minute = (int(x) for x in hhmm.split(":"))
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate < local:
        candidate += dt.timedelta(days=1)
    return candidate.astimezone(dt.UTC)


def window_opens(context: Context, window: str, windows: Any) -> dt.datetime | None:
    """When `window` opens for this run; None for a manual run that skips the windows."""
    params = context.get("params") or {}
    if not params.get("wait_for_windows", True):
        return None
    dag_run = context["dag_run"]
    # Walk the windows in order from the run's intake time, so 06:00 means the morning after 18:00.
    at = dag_run.logical_date or dag_run.run_after
    for name in ("generation", "gates", "review"):
        at = next_window(at, getattr(windows, name), batch_timezone())
        if name == window:
            return at
    raise ValueError(f"unknown window {window!r}")


class WindowSensor(BaseSensorOperator):
    """Scheduled runs wait for the window; a manual run with wait_for_windows=false goes on at once."""

    template_fields = ("window",)
    ui_color = "#eeeeee"

    def __init__(self, *, window: str, previous_window: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.window = window
        self.previous_window = previous_window

    def _target(self, context: Context) -> dt.datetime | None:
        from nightshift.config import cached_config

        return window_opens(context, self.window, cached_config().windows)

    def poke(self, context: Context) -> bool:
        target = self._target(context)
        return target is None or dt.datetime.now(dt.UTC) >= target

    def execute(self, context: Context) -> None:
        target = self._target(context)
        if target is None or dt.datetime.now(dt.UTC) >= target:
            self.log.info("window %s: no wait", self.window)
            return
        self.log.info("window %s opens at %s", self.window, target.isoformat())
        self.defer(trigger=DateTimeTrigger(moment=target), method_name="execute_complete")

    def execute_complete(self, context: Context, event: Any = None) -> None:
        return None
