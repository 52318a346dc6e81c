"""The batch timetable: the configured frequency (nightshift.schedule) as an Airflow timetable,
registered by the plugin so the scheduler can read it back from the serialised DAG.

Deploying or unpausing never starts a missed night: without catchup the next run is the first intake
strictly after now, never the most recent one already past."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from pendulum import DateTime, instance

from nightshift.schedule import Schedule, Windows, next_intake


def batch_timezone() -> str:
    """The batch timezone: config `schedule.timezone`, overridden by NIGHTSHIFT_TIMEZONE."""
    from nightshift.config import cached_config

    return cached_config().schedule.timezone


def _pendulum(when: dt.datetime) -> DateTime:
    return instance(when.astimezone(dt.UTC))


class NightshiftTimetable(Timetable):
    """One run per batch intake of the configured frequency; a run's logical date is its intake."""

    def __init__(self, schedule: Schedule | None = None, windows: Windows | None = None) -> None:
        self.schedule = schedule or Schedule()
        self.windows = windows or Windows()
        freq = self.schedule.frequency
        self.description = {
            "daily": f"daily at {freq.intake}, reviews on {','.join(freq.review_days)}",
            "weekly": f"weekly on {freq.weekday} at {freq.intake}",
            "continuous": f"every {freq.every_hours}h, reviews at {','.join(freq.review_times)}",
        }[freq.kind] + f" ({self.schedule.timezone})"

    @property
    def summary(self) -> str:
        return self.description

    def serialize(self) -> dict[str, Any]:
        return {"schedule": self.schedule.model_dump(mode="json"), "windows": self.windows.model_dump()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        return cls(Schedule.model_validate(data["schedule"]), Windows.model_validate(data["windows"]))

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        return DataInterval.exact(run_after)

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        return next_run(self.schedule, self.windows, last_automated_data_interval, restriction, now=None)


def next_run(
    schedule: Schedule,
    windows: Windows,
    last: DataInterval | None,
    restriction: TimeRestriction,
    *,
    now: dt.datetime | None,
) -> DagRunInfo | None:
    """The timetable's decision, with the clock as a parameter so tests can travel in time."""
    now = now or dt.datetime.now(dt.UTC)
    candidates: list[dt.datetime] = []
    if last is not None:
        candidates.append(last.end)
    if not restriction.catchup or (last is None and restriction.earliest is None):
        candidates.append(now)  # never a night already past
    if restriction.earliest is not None:
        candidates.append(restriction.earliest - dt.timedelta(microseconds=1))
    at = next_intake(max(candidates), schedule, windows)
    if restriction.latest is not None and at > restriction.latest:
        return None
    return DagRunInfo.exact(_pendulum(at))


def intake_timetable() -> NightshiftTimetable:
    """The configured frequency (NIGHTSHIFT_CONFIG's `schedule`, NIGHTSHIFT_TIMEZONE)."""
    from nightshift.config import cached_config

    config = cached_config()
    return NightshiftTimetable(config.schedule, config.windows)
