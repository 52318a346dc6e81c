"""Test-wide set-up: a private AIRFLOW_HOME with its own SQLite DB, before anything imports Airflow."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="nightshift-airflow-home-"))
(_HOME / "plugins").mkdir()

os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(_HOME / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "NIGHTSHIFT_HOME": str(_HOME / "nightshift"),
    }
)

# Airflow reads its metadata-DB settings once, at first import. Import it now, while the environment
# is the test-wide one: a test that sets canary AIRFLOW__* variables and happens to import Airflow
# first must not point every later test at the canary's database.
import airflow.settings  # noqa: E402, F401


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """A migrated Airflow metadata DB (SQLite) in the test AIRFLOW_HOME."""
    from airflow.utils import db

    db.initdb()
    yield _HOME / "airflow.db"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reliability-table",
        action="store_true",
        help="print the reliability table (tests marked reliability) at the end of the session",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--reliability-table", default=False):
        from tests.support.reliability import TableCollector

        config.pluginmanager.register(TableCollector(), "nightshift-reliability-table")


@pytest.fixture
def reliability_row(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Record one row of the reliability table (see tests/support/reliability.py)."""
    from tests.support.reliability import make_recorder

    return make_recorder(request)
