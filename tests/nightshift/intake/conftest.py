"""Fixtures for intake tests: a file artifact store, a batch, and a config with one fake Jira source."""

from __future__ import annotations

import datetime as dt

import pytest

from nightshift.artifacts import ArtifactStore, BatchArtifacts
from nightshift.intake.config import IntakeConfig, parse_intake_config

BATCH_DATE = dt.datetime(2024, 1, 15, 18, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path) -> ArtifactStore:
    return ArtifactStore(f"file://{tmp_path / 'artifacts'}")


@pytest.fixture
def batch(store) -> BatchArtifacts:
    return store.batch("2024-01-15-overnight")


@pytest.fixture
def config() -> IntakeConfig:
    return parse_intake_config(
        {
            "sources": [{"kind": "jira", "name": "jira", "connection_id": "jira_default"}],
            "gitlab_key_prefixes": {"group/app": "APP"},
            "routing": {
                "rules": [{"project": "WEB", "repository": "group/web", "base_branch": "develop"}],
                "default_repository": "group/app",
            },
        }
    )


@pytest.fixture
def store_batch_factory(store):
    """Batches of the same store, by id (for runs on consecutive nights)."""
    return store.batch
