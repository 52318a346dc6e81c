"""The batch schedule's two deployment settings, read from the environment (no I/O at DAG parse time),
so the DAG's timetable and the window sensors agree on one timezone."""

from __future__ import annotations

import os

from airflow.timetables.trigger import CronTriggerTimetable


def batch_timezone() -> str:
    return os.environ.get("NIGHTSHIFT_TIMEZONE", "UTC")


def intake_timetable() -> CronTriggerTimetable:
    """17:00 on weekdays by default. run_immediately=False (and no start_date on the DAG): unpausing
    never starts the most recent missed slot at once."""
    return CronTriggerTimetable(
        os.environ.get("NIGHTSHIFT_INTAKE_CRON", "0 17 * * 1-5"),
        timezone=batch_timezone(),
        run_immediately=False,
    )
