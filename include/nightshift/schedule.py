"""When a batch runs: the specification's batch frequencies as configuration, and the windows of one
batch, as pure date arithmetic in the batch timezone (no Airflow here; the timetable and the window
sensors are thin shells over it).

- weekly: intake on one weekday, the review the next morning;
- daily: every evening whose review falls on a review day (Monday to Friday by default), so no batch
  lands its review on a weekend unless `review_days` says so;
- continuous: a batch every `every_hours` hours (aligned to local midnight); its gates open when the
  next batch starts, and the review queue is gathered at the next of `review_times`.

Local times are wall-clock times in `timezone`: 17:00 stays 17:00 across daylight-saving changes. A time
that does not exist on a spring-forward night (02:30) falls one hour later; an ambiguous one (autumn)
is its first occurrence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _working_days() -> list[Weekday]:
    return list(WEEKDAYS[:5])


def parse_hhmm(value: str) -> dt.time:
    """'17:00' -> time(17, 0); a clear error for anything else."""
    try:
        hour, minute = (int(x) for x in value.split(":"))
        return dt.time(hour, minute)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{value!r} is not a local time HH:MM") from exc


def _check_hhmm(value: str) -> str:
    parse_hhmm(value)
    return value


class Windows(BaseModel):
    """The spec's schedule after intake, as local times in the batch timezone; the DAG waits for each,
    deferred. Continuous batches use only `review` (see Frequency.review_times)."""

    model_config = ConfigDict(extra="forbid")

    generation: str = "18:00"
    gates: str = "06:00"
    review: str = "08:00"

    _hhmm = field_validator("generation", "gates", "review")(_check_hhmm)


class Frequency(BaseModel):
    """The specification's batch-frequency table (README "Scheduling and frequency")."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["daily", "weekly", "continuous"] = "daily"
    #: Local time of intake (daily, weekly).
    intake: str = "17:00"
    #: weekly: the intake day; its review is the next morning.
    weekday: Weekday = "thu"
    #: daily: only batches whose review falls on one of these days run.
    review_days: list[Weekday] = Field(default_factory=_working_days, min_length=1)
    #: continuous: a batch every N hours, starting at local midnight.
    every_hours: int = Field(default=4, ge=1, le=24)
    #: continuous: the review queue is gathered at these local times.
    review_times: list[str] = Field(default_factory=lambda: ["08:00"], min_length=1)

    _intake = field_validator("intake")(_check_hhmm)

    @field_validator("review_times")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        return [_check_hhmm(v) for v in value]

    @field_validator("every_hours")
    @classmethod
    def _divides_a_day(cls, value: int) -> int:
        if 24 % value:
            raise ValueError(
                f"every_hours={value} must divide 24, so batches start at the same times each day"
            )
        return value


class Schedule(BaseModel):
    """Frequency, windows and the timezone they are read in (NIGHTSHIFT_TIMEZONE overrides it)."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    frequency: Frequency = Field(default_factory=Frequency)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (an IANA name such as Europe/Berlin)") from exc
        return value


class Night(BaseModel):
    """One batch's times, in UTC."""

    intake: dt.datetime
    generation: dt.datetime
    gates: dt.datetime
    review: dt.datetime


def at_local(day: dt.date, when: dt.time, zone: ZoneInfo) -> dt.datetime:
    """`when` on `day` in `zone`, as UTC (see the module docstring for DST gaps and folds)."""
    local = dt.datetime.combine(day, when, tzinfo=zone)
    # A time in a spring-forward gap does not survive the round trip: normalise it through UTC.
    return local.astimezone(dt.UTC)


def next_local(after: dt.datetime, when: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The first `when` (local) at or after `after`."""
    day = after.astimezone(zone).date()
    for offset in range(3):
        candidate = at_local(day + dt.timedelta(days=offset), when, zone)
        if candidate >= after:
            return candidate
    raise AssertionError("unreachable: a local time recurs every day")


def night_of(intake: dt.datetime, schedule: Schedule, windows: Windows) -> Night:
    """The windows of the batch whose intake is at `intake`."""
    zone = ZoneInfo(schedule.timezone)
    freq = schedule.frequency
    if freq.kind == "continuous":
        generation = intake
        # The gates open when the next batch starts (wall clock: 3 or 5 hours on a DST night).
        slots = [dt.time(hour) for hour in range(0, 24, freq.every_hours)]
        gates = min(next_local(intake + dt.timedelta(minutes=1), slot, zone) for slot in slots)
        review = min(next_local(gates, parse_hhmm(t), zone) for t in freq.review_times)
    else:
        generation = next_local(intake, parse_hhmm(windows.generation), zone)
        gates = next_local(generation, parse_hhmm(windows.gates), zone)
        review = next_local(gates, parse_hhmm(windows.review), zone)
    return Night(intake=intake, generation=generation, gates=gates, review=review)


def _candidates(after: dt.datetime, schedule: Schedule) -> Iterator[dt.datetime]:
    zone = ZoneInfo(schedule.timezone)
    freq = schedule.frequency
    day = after.astimezone(zone).date() - dt.timedelta(days=1)
    while True:
        if freq.kind == "continuous":
            for hour in range(0, 24, freq.every_hours):
                yield at_local(day, dt.time(hour), zone)
        else:
            yield at_local(day, parse_hhmm(freq.intake), zone)
        day += dt.timedelta(days=1)


def _runs_on(intake: dt.datetime, schedule: Schedule, windows: Windows) -> bool:
    freq = schedule.frequency
    zone = ZoneInfo(schedule.timezone)
    if freq.kind == "weekly":
        return WEEKDAYS[intake.astimezone(zone).weekday()] == freq.weekday
    if freq.kind == "daily":
        review = night_of(intake, schedule, windows).review
        return WEEKDAYS[review.astimezone(zone).weekday()] in freq.review_days
    return True


def next_intake(after: dt.datetime, schedule: Schedule, windows: Windows) -> dt.datetime:
    """The first intake strictly after `after` (UTC)."""
    seen: set[dt.datetime] = set()
    for candidate in _candidates(after, schedule):
        if candidate in seen:  # a DST fold maps two wall times to one instant
            continue
        seen.add(candidate)
        if candidate > after and _runs_on(candidate, schedule, windows):
            return candidate
        if candidate > after + dt.timedelta(days=15):
            break
    raise ValueError("the frequency never runs: check frequency.review_days and windows")


def previous_intake(before: dt.datetime, schedule: Schedule, windows: Windows) -> dt.datetime:
    """The last intake at or before `before`."""
    at = before - dt.timedelta(days=8)
    last = next_intake(at, schedule, windows)
    while (following := next_intake(last, schedule, windows)) <= before:
        last = following
    return last


def alert_offsets(schedule: Schedule, windows: Windows) -> tuple[dt.timedelta, dt.timedelta]:
    """(intake -> gates, intake -> review), the longest any batch has: measured on the wall clock over a
    fortnight, plus the zone's daylight-saving shift, so a deadline counted from the intake never fires
    before its window opens (it may fire up to that shift late on the other nights)."""
    zone = ZoneInfo(schedule.timezone)
    winter, summer = (dt.datetime(2026, m, 1, tzinfo=zone).utcoffset() for m in (1, 7))
    shift = abs((winter or dt.timedelta(0)) - (summer or dt.timedelta(0)))
    wall = schedule.model_copy(update={"timezone": "UTC"})
    intake = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    nights: list[Night] = []
    while intake < dt.datetime(2026, 1, 19, tzinfo=dt.UTC):
        intake = next_intake(intake, wall, windows)
        nights.append(night_of(intake, wall, windows))
    gates = max(n.gates - n.intake for n in nights)
    review = max(n.review - n.intake for n in nights)
    return gates + shift, review + shift


def lateness(
    stage: Literal["generation", "review"], batch_id: str, status: str | None, review_ready: bool
) -> str | None:
    """What to tell the operators when a deadline of the night passes, or None when all is well:
    generation not finished when the gates window opened, or no review queue at its time."""
    if stage == "generation" and status not in ("completed", "aborted", "reviewed"):
        return (
            f"Nightshift batch {batch_id}: generation had not finished when the gates window opened "
            f"(manifest status: {status or 'no manifest'}); running agents are stopped and their tickets "
            "carried over"
        )
    if stage == "review" and not review_ready:
        return f"Nightshift batch {batch_id}: the review queue was not ready at its time"
    return None
