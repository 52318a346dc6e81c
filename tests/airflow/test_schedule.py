"""The spec's timetable: 17:00 intake, then 18:00 / 06:00 / 08:00 windows, and no surprise run on unpause."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from nightshift.schedule import Windows

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


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


def _no_catchup():
    from airflow.timetables.base import TimeRestriction

    return TimeRestriction(earliest=None, latest=None, catchup=False)


def test_unpausing_or_deploying_never_starts_a_missed_night():
    """Tuesday 18:30 in Berlin: 17:00 has passed; the next run is Wednesday 17:00, not today's."""
    from airflow.timetables.base import DataInterval

    from nightshift.schedule import Schedule
    from nightshift_airflow.schedule import next_run

    sched = Schedule(timezone="Europe/Berlin")
    now = dt.datetime(2026, 3, 10, 17, 30, tzinfo=dt.UTC)
    first = next_run(sched, Windows(), None, _no_catchup(), now=now)
    assert first.run_after == dt.datetime(2026, 3, 11, 16, tzinfo=dt.UTC)
    # Paused for a week: the last run is long past; still the next intake after now, no backlog.
    week_ago = dt.datetime(2026, 3, 3, 16, tzinfo=dt.UTC)
    again = next_run(sched, Windows(), DataInterval.exact(week_ago), _no_catchup(), now=now)
    assert again.run_after == first.run_after
    assert again.logical_date == first.run_after  # the logical date is the intake: windows count from it


def test_timetable_travels_across_both_changes_in_new_york():
    from airflow.timetables.base import DataInterval, TimeRestriction

    from nightshift.schedule import Frequency, Schedule
    from nightshift_airflow.schedule import next_run

    sched = Schedule(timezone="America/New_York", frequency=Frequency(review_days=EVERY_DAY))
    catchup = TimeRestriction(earliest=None, latest=None, catchup=True)
    at = DataInterval.exact(dt.datetime(2026, 3, 7, 22, tzinfo=dt.UTC))  # Sat 17:00 EST
    spring = next_run(sched, Windows(), at, catchup, now=None).run_after
    assert spring == dt.datetime(2026, 3, 8, 21, tzinfo=dt.UTC)  # Sun 17:00 EDT
    at = DataInterval.exact(dt.datetime(2026, 10, 31, 21, tzinfo=dt.UTC))  # Sat 17:00 EDT
    autumn = next_run(sched, Windows(), at, catchup, now=None).run_after
    assert autumn == dt.datetime(2026, 11, 1, 22, tzinfo=dt.UTC)  # Sun 17:00 EST


def test_timetable_serialises_through_the_plugin():
    from nightshift.schedule import Frequency, Schedule
    from nightshift_airflow.schedule import NightshiftTimetable

    table = NightshiftTimetable(Schedule(timezone="Europe/Berlin", frequency=Frequency(kind="weekly")))
    again = NightshiftTimetable.deserialize(table.serialize())
    assert again.schedule == table.schedule and "weekly on thu" in again.summary


def test_window_sensor_reads_the_continuous_frequency():
    from types import SimpleNamespace

    from nightshift.schedule import Frequency, Schedule
    from nightshift_airflow.sensors.windows import window_opens

    sched = Schedule(frequency=Frequency(kind="continuous", every_hours=6, review_times=["09:00"]))
    run = SimpleNamespace(logical_date=dt.datetime(2026, 1, 5, 6, tzinfo=dt.UTC), run_after=None)
    ctx = {"params": {}, "dag_run": run}
    assert window_opens(ctx, "generation", Windows(), sched) == run.logical_date
    assert window_opens(ctx, "gates", Windows(), sched) == dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)
    assert window_opens(ctx, "review", Windows(), sched) == dt.datetime(2026, 1, 6, 9, tzinfo=dt.UTC)


def test_gates_do_not_wait_for_late_tickets():
    """The gates window hangs off start_generation; no ticket task is upstream of the gates or the queue,
    so a ticket still running at 06:00 cannot hold them back."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))
    dag = bag.dags["nightshift_nightly_batch"]
    gates_window = dag.get_task("wait_gates_window")
    assert gates_window.upstream_task_ids == {"start_generation"}
    assert gates_window.after_generation  # a manual run without windows waits for generation instead
    upstream = dag.get_task("review_queue").get_flat_relative_ids(upstream=True)
    assert "ticket" not in upstream and "finish_generation" not in upstream
    assert "ticket" in dag.get_task("finish_generation").get_flat_relative_ids(upstream=True)
    stages = sorted(alert.callback.kwargs["stage"] for alert in dag.deadline)
    assert stages == ["generation", "review"]


@pytest.mark.parametrize("flag", [True, False])
def test_manual_runs_may_skip_the_waits(flag):
    from types import SimpleNamespace

    from nightshift_airflow.sensors.windows import WindowSensor

    sensor = WindowSensor(task_id="w", window="gates")
    run = SimpleNamespace(logical_date=dt.datetime(2026, 1, 5, 17, tzinfo=dt.UTC), run_after=None)
    target = sensor._target({"params": {"wait_for_windows": flag}, "dag_run": run})
    assert (target == dt.datetime(2026, 1, 6, 6, tzinfo=dt.UTC)) if flag else target is None


def test_a_run_without_windows_opens_the_gates_after_generation(monkeypatch):
    from types import SimpleNamespace

    from airflow.sdk.exceptions import TaskDeferred

    import nightshift_airflow.sensors.windows as windows

    sensor = windows.WindowSensor(task_id="g", window="gates", after_generation=True)
    run = SimpleNamespace(logical_date=dt.datetime(2026, 1, 5, 17, tzinfo=dt.UTC), run_after=None)
    ctx = {"params": {"wait_for_windows": False}, "dag_run": run}
    monkeypatch.setattr(windows, "generation_finished", lambda context: False)
    with pytest.raises(TaskDeferred):
        sensor.execute(ctx)
    monkeypatch.setattr(windows, "generation_finished", lambda context: True)
    assert sensor.execute(ctx) is None


def test_the_deadline_callback_speaks_only_when_the_night_is_late(tmp_path, monkeypatch):
    import asyncio

    from nightshift.artifacts import ArtifactStore
    from nightshift.config import cached_config
    from nightshift_airflow import deadlines

    monkeypatch.setenv("NIGHTSHIFT_ARTIFACTS_URL", f"file://{tmp_path}")
    cached_config.cache_clear()
    said: list[str] = []
    monkeypatch.setattr(deadlines, "notify", lambda message, context: said.append(message))
    run = {
        "run_id": "scheduled__2026-01-05T17:00:00+00:00",
        "run_type": "scheduled",
        "logical_date": "2026-01-05T17:00:00+00:00",
        "conf": {},
    }
    batch = ArtifactStore(f"file://{tmp_path}").batch("2026-01-05-overnight")
    manifest = (
        'batch_id: "2026-01-05-overnight"\ncreated_at: "2026-01-05T17:00:00Z"\nstatus: {}\ntickets: []\n'
    )
    try:
        batch.write_text("manifest.yaml", manifest.format("running"))
        asyncio.run(deadlines.night_deadline_missed({"dag_run": run}, stage="generation"))
        assert len(said) == 1 and "2026-01-05-overnight" in said[0] and "had not finished" in said[0]
        batch.write_text("manifest.yaml", manifest.format("completed"))
        asyncio.run(deadlines.night_deadline_missed({"dag_run": run}, stage="generation"))
        asyncio.run(deadlines.night_deadline_missed({"dag_run": run}, stage="review"))
        assert len(said) == 2 and "review queue was not ready" in said[1]
        batch.write_text("review/dashboard.txt", "queue\n")
        asyncio.run(deadlines.night_deadline_missed({"dag_run": run}, stage="review"))
        assert len(said) == 2
    finally:
        cached_config.cache_clear()


class RecordingNotifier:
    sent: list[str] = []

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, context):
        RecordingNotifier.sent.append(self.prefix + context["nightshift_alert"])


def test_alerts_go_through_the_configured_notifier(tmp_path, monkeypatch):
    import sys

    from nightshift.config import cached_config
    from nightshift_airflow import deadlines

    sys.modules.setdefault("nightshift_test_notifiers", sys.modules[__name__])
    config = tmp_path / "nightshift.yaml"
    config.write_text(
        "alerts:\n  notifier: nightshift_test_notifiers.RecordingNotifier\n  notifier_kwargs: {prefix: '[ops] '}\n"
    )
    monkeypatch.setenv("NIGHTSHIFT_CONFIG", str(config))
    cached_config.cache_clear()
    try:
        deadlines.notify("batch late", {})
    finally:
        cached_config.cache_clear()
    assert RecordingNotifier.sent == ["[ops] batch late"]
