"""Start/FinishGenerationOperator on their own, with a fake task context: they translate the params
into nightshift.generation.batch calls and return what the DAG maps over and XComs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nightshift.artifacts import ArtifactStore
from nightshift.config import cached_config
from nightshift.generation.state import BatchState
from nightshift.manifest import dump_manifest
from nightshift.models import BatchManifest, BatchStatus, ManifestTicket, TicketState

BATCH = "2026-01-05-overnight"


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("NIGHTSHIFT_ARTIFACTS_URL", f"file://{tmp_path / 'artifacts'}")
    monkeypatch.setenv("NIGHTSHIFT_WORKDIR", str(tmp_path / "work"))
    cached_config.cache_clear()
    batch = ArtifactStore(f"file://{tmp_path / 'artifacts'}").batch(BATCH)
    tickets = [ManifestTicket(id="P-1"), ManifestTicket(id="P-2")]
    manifest = BatchManifest(batch_id=BATCH, created_at="2026-01-05T17:00:00Z", tickets=tickets)
    batch.write_text("manifest.yaml", dump_manifest(manifest))
    yield batch
    cached_config.cache_clear()


def context(**params) -> dict:
    return {"params": {"batch_id": BATCH, **params}, "dag_run": SimpleNamespace(run_id="manual__x")}


def test_start_returns_the_selected_ids_and_carries_the_rest_over(artifacts):
    from nightshift_airflow.operators.batch import StartGenerationOperator

    ids = StartGenerationOperator(task_id="start").execute(context(ticket_ids=["P-2"], dry_run=True))
    assert ids == ["P-2"]
    outcome = BatchState(artifacts).outcome("P-1")
    assert outcome is not None and outcome.state == TicketState.CARRIED_OVER and outcome.dry_run


def test_start_rejects_an_unknown_ticket_id(artifacts):
    from nightshift_airflow.operators.batch import StartGenerationOperator

    with pytest.raises(ValueError, match="P-7"):
        StartGenerationOperator(task_id="start").execute(context(ticket_ids=["P-7"]))


def test_finish_returns_the_status_and_counts(artifacts, tmp_path):
    from nightshift_airflow.operators.batch import FinishGenerationOperator, StartGenerationOperator

    StartGenerationOperator(task_id="start").execute(context())
    worktrees = tmp_path / "work" / "workspaces" / "worktrees" / BATCH
    worktrees.mkdir(parents=True)
    result = FinishGenerationOperator(task_id="finish").execute(context())
    assert result == {"status": BatchStatus.COMPLETED.value, "counts": {"failed": 2}}
    assert not worktrees.exists()
