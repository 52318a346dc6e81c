"""WindowSensor's waits and generation_finished on a real batch folder. test_schedule.py covers the window
times, the manual run's skip and the after-generation deferral with generation_finished replaced; here
the sensor defers to the window's moment, goes on once it has passed, and reads the manifest itself."""

from __future__ import annotations

import datetime as dt
import os
from types import SimpleNamespace

import pytest
from airflow.providers.standard.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger
from airflow.sdk.exceptions import TaskDeferred

from nightshift.artifacts import ArtifactStore, BatchArtifacts
from nightshift.config import cached_config
from nightshift.manifest import dump_manifest
from nightshift.models import BatchManifest, BatchStatus, ManifestTicket
from nightshift_airflow.sensors.windows import WindowSensor, generation_finished

BATCH = "2026-01-05-overnight"


def night(intake: dt.datetime, **params) -> dict:
    run = SimpleNamespace(run_id="scheduled__x", run_type="scheduled", logical_date=intake, run_after=None)
    return {"params": {"batch_id": BATCH, **params}, "dag_run": run}


@pytest.fixture
def batch(tmp_path, monkeypatch) -> BatchArtifacts:
    for name in list(os.environ):  # the shipped default config: UTC, 18:00 / 06:00 / 08:00
        if name.startswith("NIGHTSHIFT_") and name != "NIGHTSHIFT_HOME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("NIGHTSHIFT_ARTIFACTS_URL", f"file://{tmp_path / 'artifacts'}")
    cached_config.cache_clear()
    yield ArtifactStore(f"file://{tmp_path / 'artifacts'}").batch(BATCH)
    cached_config.cache_clear()


def write_manifest(batch: BatchArtifacts, status: BatchStatus) -> None:
    manifest = BatchManifest(
        batch_id=BATCH, created_at="2026-01-05T17:00:00Z", tickets=[ManifestTicket(id="P-1")], status=status
    )
    batch.write_text("manifest.yaml", dump_manifest(manifest))


def test_a_window_ahead_defers_to_its_moment_and_a_passed_one_does_not_wait(batch):
    tomorrow = dt.datetime.now(dt.UTC).replace(hour=17, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    sensor = WindowSensor(task_id="wait_gates_window", window="gates")
    ahead = night(tomorrow)
    assert sensor.poke(ahead) is False
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(ahead)
    trigger = deferred.value.trigger
    assert isinstance(trigger, DateTimeTrigger) and deferred.value.method_name == "execute_complete"
    assert trigger.moment == (tomorrow + dt.timedelta(days=1)).replace(hour=6)  # 06:00 the next morning
    assert sensor.execute_complete(ahead, None) is None

    past = night(dt.datetime(2026, 1, 5, 17, tzinfo=dt.UTC))
    assert sensor.poke(past) is True
    assert sensor.execute(past) is None  # no TaskDeferred: the gates opened long ago


@pytest.mark.parametrize(
    ("status", "finished"),
    [
        (BatchStatus.PENDING, False),
        (BatchStatus.RUNNING, False),
        (BatchStatus.COMPLETED, True),
        (BatchStatus.ABORTED, True),
        (BatchStatus.REVIEWED, True),
    ],
)
def test_generation_is_finished_once_the_manifest_says_so(batch, status, finished):
    write_manifest(batch, status)
    assert generation_finished(night(dt.datetime(2026, 1, 5, 17, tzinfo=dt.UTC))) is finished


def test_a_run_without_windows_rechecks_the_manifest_until_generation_finishes(batch):
    sensor = WindowSensor(task_id="wait_gates_window", window="gates", after_generation=True, recheck_seconds=7)
    manual = night(dt.datetime(2026, 1, 5, 17, tzinfo=dt.UTC), wait_for_windows=False)
    write_manifest(batch, BatchStatus.RUNNING)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(manual)
    assert isinstance(deferred.value.trigger, TimeDeltaTrigger) and deferred.value.method_name == "recheck"
    with pytest.raises(TaskDeferred):
        sensor.recheck(manual)  # still running: another look later
    write_manifest(batch, BatchStatus.COMPLETED)  # finish_generation ran
    assert sensor.recheck(manual) is None
