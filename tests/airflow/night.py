"""The Airflow adapters' own tests run on a deployment: a real configuration file, a batch folder, and the
GitLab stand-in behind an `AIRFLOW_CONN_*` connection, so the runtime and the sensors run on real objects
(hooks, clients, artifact store) with no Airflow scheduler."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from nightshift.artifacts import ArtifactStore, BatchArtifacts
from nightshift.config import cached_config
from nightshift.generation.state import BatchState
from nightshift.manifest import dump_manifest
from nightshift.models import BatchManifest, BatchStatus, ManifestTicket
from standins.fixtures import default_seed, running_gitlab
from standins.gitlab import GitLabStandin

BATCH = "2026-01-05-overnight"
PROJECT = "group/app"
#: The stand-in project's default branch: not forge.default_branch (main), so a branch read from the forge
#: is told apart from the configured fallback.
TRUNK = "trunk"
#: The connection the configuration names (not gitlab_default: the config's id is the one used).
CONN_ID = "gitlab_night"
#: The intake sources' display names, as IntakeRecord.source holds them.
FILES_SOURCE, GITLAB_SOURCE = "local-files", "issues"


@dataclass
class Deployment:
    """What a test needs: the stand-in, the batch's artifacts and a task context for the batch."""

    server: GitLabStandin
    root: Path
    artifacts: BatchArtifacts

    @property
    def state(self) -> BatchState:
        return BatchState(self.artifacts)

    def write_manifest(self, *tickets: ManifestTicket, status: BatchStatus = BatchStatus.RUNNING) -> None:
        manifest = BatchManifest(
            batch_id=BATCH, created_at="2026-01-05T17:00:00Z", tickets=list(tickets), status=status
        )
        self.artifacts.write_text("manifest.yaml", dump_manifest(manifest))

    def context(self, **params: Any) -> dict[str, Any]:
        """A task's context on the night of 2026-01-05 (windows: 18:00, 06:00, 08:00 UTC)."""
        run = SimpleNamespace(
            dag_id="nightshift_nightly_batch",
            run_id="scheduled__2026-01-05T17:00:00+00:00",
            run_type="scheduled",
            logical_date=dt.datetime(2026, 1, 5, 17, tzinfo=dt.UTC),
            run_after=None,
        )
        ti = SimpleNamespace(xcom_pull=lambda task_ids=None, key=None: [], xcom_push=lambda key, value: None)
        return {"params": {"batch_id": BATCH, **params}, "dag_run": run, "ti": ti}


def _seed() -> dict[str, Any]:
    seed = default_seed()
    seed["projects"][0]["default_branch"] = TRUNK
    seed["projects"].append({"path_with_namespace": "group/empty", "repository": {"files": {}}})
    return seed


@pytest.fixture
def gitlab_night(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    for name in list(os.environ):
        if name.startswith(("NIGHTSHIFT_", "AIRFLOW_CONN_")):
            monkeypatch.delenv(name)
    (tmp_path / "tickets").mkdir()
    config = {
        "artifacts_url": f"file://{tmp_path / 'artifacts'}",
        "workdir": str(tmp_path / "work"),
        "forge": {"gitlab_conn_id": CONN_ID, "default_branch": "main"},
        "agent": {"backend": "scripted", "scripted": {"state_dir": str(tmp_path / "scripted-state")}},
        "intake": {
            "sources": [
                {"kind": "files", "name": FILES_SOURCE, "folder": "tickets"},
                {"kind": "gitlab", "name": GITLAB_SOURCE, "connection_id": CONN_ID, "projects": [PROJECT]},
            ],
        },
    }
    path = tmp_path / "nightshift.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    monkeypatch.setenv("NIGHTSHIFT_CONFIG", str(path))
    cached_config.cache_clear()
    with running_gitlab(_seed()) as server:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}",
            json.dumps({"conn_type": "gitlab", "host": server.base_url, "password": server.token}),
        )
        artifacts = ArtifactStore(config["artifacts_url"]).batch(BATCH)
        yield Deployment(server=server, root=tmp_path, artifacts=artifacts)
    cached_config.cache_clear()
