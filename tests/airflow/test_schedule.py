"""The spec's timetable: 17:00 intake, then 18:00 / 06:00 / 08:00 windows, and no surprise run on unpause."""

from __future__ import annotations

import datetime as dt

import pytest


def test_windows_follow_the_spec_order_across_midnight():
    from nightshift_airflow.sensors.windows import next_window

    intake = dt.datetime(2026, 1, 5, 17, 0, tzinfo=dt.UTC)
    generation = next_window(intake, "18:00", "UTC")
    gates = next_window(generation, "06:00", "UTC")
    review = next_window(gates, "08:00", "UTC")
    assert generation == dt.datetime(2026, 1, 5, 18, 0, tzinfo=dt.UTC)
    assert gates == dt.datetime(2026, 1, 6, 6, 0, tzinfo=dt.UTC)
    assert review == dt.datetime(2026, 1, 6, 8, 0, tzinfo=dt.UTC)


def test_windows_are_local_times_of_the_batch_timezone():
    from nightshift_airflow.sensors.windows import next_window

    intake = dt.datetime(2026, 7, 6, 15, 0, tzinfo=dt.UTC)  # 17:00 in Berlin (summer time)
    assert next_window(intake, "18:00", "Europe/Berlin") == dt.datetime(2026, 7, 6, 16, 0, tzinfo=dt.UTC)


def test_timetable_from_environment_and_no_run_for_a_missed_slot(monkeypatch):
    from airflow.timetables.base import TimeRestriction

    from nightshift_airflow.schedule import intake_timetable

    monkeypatch.setenv("NIGHTSHIFT_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("NIGHTSHIFT_INTAKE_CRON", "0 17 * * 1-5")
    timetable = intake_timetable()
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None, restriction=TimeRestriction(earliest=None, latest=None, catchup=False)
    )
    assert info is not None
    now = dt.datetime.now(dt.UTC)
    assert info.run_after > now  # the next 17:00, never yesterday's
    local = info.run_after.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (17, 0) and local.isoweekday() <= 5


@pytest.mark.parametrize("flag", [True, False])
def test_manual_runs_may_skip_the_waits(flag):
    from types import SimpleNamespace

    from nightshift_airflow.sensors.windows import WindowSensor

    sensor = WindowSensor(task_id="w", window="gates")
    run = SimpleNamespace(logical_date=dt.datetime(2026, 1, 5, 17, tzinfo=dt.UTC), run_after=None)
    target = sensor._target({"params": {"wait_for_windows": flag}, "dag_run": run})
    assert (target == dt.datetime(2026, 1, 6, 6, tzinfo=dt.UTC)) if flag else target is None
