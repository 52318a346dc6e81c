"""When this run's windows open (18:00 generation, 06:00 gates, 08:00 review), for the sensors and the
runtime alike: a module of its own so that neither imports the other."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk.definitions.context import Context


def next_window(after: dt.datetime, hhmm: str, tz: str) -> dt.datetime:
    """The first time `hhmm` (local to `tz`) at or after `after`."""
    from nightshift.schedule import next_local, parse_hhmm

    return next_local(after, parse_hhmm(hhmm), ZoneInfo(tz))


def window_opens(context: Context, window: str, windows: Any, schedule: Any = None) -> dt.datetime | None:
    """When `window` opens for this run; None for a manual run that skips the windows."""
    from nightshift.config import cached_config
    from nightshift.schedule import night_of

    params = context.get("params") or {}
    if not params.get("wait_for_windows", True):
        return None
    if window not in ("generation", "gates", "review"):
        raise ValueError(f"unknown window {window!r}")
    dag_run = context["dag_run"]
    intake = dag_run.logical_date or dag_run.run_after
    night = night_of(intake, schedule or cached_config().schedule, windows)
    opens: dt.datetime = getattr(night, window)
    return opens
