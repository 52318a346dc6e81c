"""The batch frequencies of the spec's table, travelling in time across both daylight-saving changes in a
European (Europe/Berlin) and a US (America/New_York) zone. All times are asserted in UTC, so a wrong
offset on a transition night shows."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from nightshift.schedule import (
    Frequency,
    Schedule,
    Windows,
    alert_offsets,
    lateness,
    next_intake,
    night_of,
    previous_intake,
)

WINDOWS = Windows()
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def schedule(zone: str, **frequency) -> Schedule:
    return Schedule(timezone=zone, frequency=Frequency(**frequency))


def intakes(after: dt.datetime, sched: Schedule, n: int) -> list[dt.datetime]:
    out = [after]
    for _ in range(n):
        out.append(next_intake(out[-1], sched, WINDOWS))
    return out[1:]


def test_daily_runs_on_weeknights_and_lands_no_review_on_a_weekend():
    sched = schedule("UTC")
    # Thu 2026-03-05 18:00 -> Sun 17:00 (review Monday); no Friday or Saturday batch.
    got = intakes(utc(2026, 3, 5, 18), sched, 5)
    assert got == [
        utc(2026, 3, 8, 17),
        utc(2026, 3, 9, 17),
        utc(2026, 3, 10, 17),
        utc(2026, 3, 11, 17),
        utc(2026, 3, 12, 17),
    ]
    reviews = {night_of(i, sched, WINDOWS).review.strftime("%a") for i in intakes(utc(2026, 3, 1), sched, 20)}
    assert reviews == {"Mon", "Tue", "Wed", "Thu", "Fri"}


def test_daily_with_weekend_reviews_configured_runs_every_night():
    sched = schedule("UTC", review_days=EVERY_DAY)
    assert intakes(utc(2026, 3, 5, 18), sched, 3) == [
        utc(2026, 3, 6, 17),
        utc(2026, 3, 7, 17),
        utc(2026, 3, 8, 17),
    ]


def test_weekly_intake_on_one_weekday_and_review_the_next_morning():
    sched = schedule("Europe/Berlin", kind="weekly", weekday="thu")
    first, second = intakes(utc(2026, 3, 2), sched, 2)
    assert first == utc(2026, 3, 5, 16)  # Thu 17:00 CET
    assert second == utc(2026, 3, 12, 16)
    night = night_of(first, sched, WINDOWS)
    assert night.review == utc(2026, 3, 6, 7)  # Fri 08:00 CET


def test_berlin_spring_forward_night():
    """29 March 2026, 02:00 CET -> 03:00 CEST: the night is an hour shorter, local times hold."""
    sched = schedule("Europe/Berlin", review_days=EVERY_DAY)
    intake = next_intake(utc(2026, 3, 28, 12), sched, WINDOWS)
    night = night_of(intake, sched, WINDOWS)
    assert intake == utc(2026, 3, 28, 16)  # Sat 17:00 CET (+01:00)
    assert night.generation == utc(2026, 3, 28, 17)
    assert night.gates == utc(2026, 3, 29, 4)  # Sun 06:00 CEST (+02:00)
    assert night.review == utc(2026, 3, 29, 6)
    assert night.gates - night.generation == dt.timedelta(hours=11)
    assert next_intake(intake, sched, WINDOWS) == utc(2026, 3, 29, 15)  # Sun 17:00 CEST


def test_berlin_fall_back_night():
    """25 October 2026, 03:00 CEST -> 02:00 CET: an hour longer."""
    sched = schedule("Europe/Berlin", review_days=EVERY_DAY)
    intake = next_intake(utc(2026, 10, 24, 12), sched, WINDOWS)
    night = night_of(intake, sched, WINDOWS)
    assert intake == utc(2026, 10, 24, 15)  # Sat 17:00 CEST
    assert night.gates == utc(2026, 10, 25, 5)  # Sun 06:00 CET
    assert night.gates - night.generation == dt.timedelta(hours=13)
    assert next_intake(intake, sched, WINDOWS) == utc(2026, 10, 25, 16)


def test_new_york_weeknights_across_spring_forward():
    """8 March 2026 (EST -5 -> EDT -4): Thursday's batch, then Sunday's, whose review is Monday."""
    sched = schedule("America/New_York")
    thursday, sunday = intakes(utc(2026, 3, 5, 12), sched, 2)
    assert thursday == utc(2026, 3, 5, 22)  # 17:00 EST
    assert sunday == utc(2026, 3, 8, 21)  # 17:00 EDT
    assert night_of(sunday, sched, WINDOWS).review == utc(2026, 3, 9, 12)  # Mon 08:00 EDT


def test_new_york_fall_back_night():
    """1 November 2026 (EDT -> EST at 02:00)."""
    sched = schedule("America/New_York", review_days=EVERY_DAY)
    intake = next_intake(utc(2026, 10, 31, 12), sched, WINDOWS)
    night = night_of(intake, sched, WINDOWS)
    assert intake == utc(2026, 10, 31, 21)  # Sat 17:00 EDT
    assert night.gates == utc(2026, 11, 1, 11)  # Sun 06:00 EST
    assert night.review == utc(2026, 11, 1, 13)


def test_continuous_every_four_hours_on_the_wall_clock_across_both_changes():
    sched = schedule("America/New_York", kind="continuous", every_hours=4, review_times=["08:00", "13:00"])
    spring = intakes(utc(2026, 3, 8, 4), sched, 3)
    assert spring == [utc(2026, 3, 8, 5), utc(2026, 3, 8, 8), utc(2026, 3, 8, 12)]  # 00:00 EST, 04/08 EDT
    night = night_of(spring[1], sched, WINDOWS)
    assert night.generation == spring[1]
    assert night.gates == spring[2]  # the next batch's start
    assert night.review == utc(2026, 3, 8, 12)  # 08:00 EDT
    assert night_of(spring[2], sched, WINDOWS).review == utc(2026, 3, 8, 17)  # 13:00 EDT
    autumn = intakes(utc(2026, 11, 1, 3), sched, 2)
    assert autumn == [utc(2026, 11, 1, 4), utc(2026, 11, 1, 9)]  # 00:00 EDT, 04:00 EST: five hours


def test_previous_intake_and_alert_offsets_never_fire_early():
    sched = schedule("Europe/Berlin")
    assert previous_intake(utc(2026, 3, 10, 12), sched, WINDOWS) == utc(2026, 3, 9, 16)
    gates, review = alert_offsets(sched, WINDOWS)
    # 17:00 -> 06:00 is 13 h, 14 h across the autumn change: the alert waits for the longer night.
    assert gates == dt.timedelta(hours=14) and review == dt.timedelta(hours=16)


def test_bad_values_are_named():
    with pytest.raises(ValidationError, match="timezone"):
        Schedule(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="must divide 24"):
        Frequency(kind="continuous", every_hours=5)
    with pytest.raises(ValidationError, match="HH:MM"):
        Frequency(intake="5pm")
    with pytest.raises(ValidationError, match="HH:MM"):
        Windows(gates="six")


def test_lateness_speaks_only_when_something_is_late():
    assert lateness("generation", "b", "completed", False) is None
    assert "had not finished" in (lateness("generation", "b", "running", False) or "")
    assert lateness("review", "b", "completed", True) is None
    assert "not ready" in (lateness("review", "b", "completed", False) or "")
