"""SequenceOperator warns when the manifest asks for more agents at once than the agents pool has."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from nightshift.config import AGENTS_POOL, cached_config
from nightshift.models import BatchConfig, BatchManifest, ManifestTicket

BATCH = "2026-01-05-overnight"


@pytest.fixture
def sequence(tmp_path, monkeypatch):
    """The operator with intake's sequencing replaced by one returning a manifest of the given size."""
    config = tmp_path / "nightshift.yaml"
    config.write_text("batch: {parallel_agents: 2}\n")
    monkeypatch.setenv("NIGHTSHIFT_CONFIG", str(config))
    monkeypatch.setenv("NIGHTSHIFT_ARTIFACTS_URL", f"file://{tmp_path / 'artifacts'}")
    cached_config.cache_clear()
    from nightshift.intake import pipeline
    from nightshift_airflow.operators.intake import SequenceOperator

    def run(parallel_agents: int) -> None:
        manifest = BatchManifest(
            batch_id=BATCH,
            created_at="2026-01-05T17:00:00Z",
            config=BatchConfig(parallel_agents=parallel_agents),
            tickets=[ManifestTicket(id="P-1")],
        )
        monkeypatch.setattr(pipeline, "sequence_and_write", lambda *a, **k: manifest)
        operator = SequenceOperator(task_id="intake_write_manifest")
        context = {"params": {"batch_id": BATCH}, "dag_run": SimpleNamespace(run_id="manual__x")}
        operator.execute(context)

    yield run
    cached_config.cache_clear()


def _warnings(capsys, caplog) -> list[str]:
    """Task-log warnings: structlog's console lines (the task SDK's logger), or stdlib records."""
    lines = [line for line in capsys.readouterr().out.splitlines() if "[warning" in line]
    return lines + [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_manifest_asking_for_more_agents_than_the_pool_gets_a_warning(sequence, capsys, caplog):
    sequence(6)
    (warning,) = [w for w in _warnings(capsys, caplog) if AGENTS_POOL in w]
    assert f"batch {BATCH}" in warning and "parallel_agents=6" in warning and "2 slot(s)" in warning


def test_a_manifest_within_the_pool_gets_none(sequence, capsys, caplog):
    sequence(2)
    assert not [w for w in _warnings(capsys, caplog) if AGENTS_POOL in w]
