"""PostgreSQL as the metadata DB, as in docker-compose.yaml: the init service's steps (`airflow db migrate`,
then `airflow pools set nightshift_agents ...`) against a fresh database on a real server.

Runs when the deployment extras are installed (psycopg2 and apache-airflow-providers-postgres, from
requirements-deploy.txt) and a PostgreSQL server answers on 127.0.0.1:5432 (user postgres, trust auth;
override with NIGHTSHIFT_TEST_POSTGRES_DSN, a libpq DSN of a role that may create databases). Otherwise it
skips and says exactly what is missing. The database it creates (nightshift_test_<random>) is dropped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
INSTALL_HINT = (
    "install the deployment extras into this venv to run it: "
    ".venv/bin/pip install -c constraints.txt -c constraints-deploy.txt -r requirements-deploy.txt"
)
POOL = "nightshift_agents"

pytestmark = pytest.mark.timeout(180)


def _admin_dsn() -> str:
    return os.environ.get("NIGHTSHIFT_TEST_POSTGRES_DSN") or DEFAULT_DSN


@pytest.fixture(scope="module")
def admin() -> Iterator[Any]:
    """An autocommit connection of a role that may create databases, or a skip saying why there is none."""
    missing = [
        name for name in ("psycopg2", "airflow.providers.postgres") if importlib.util.find_spec(name) is None
    ]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not importable (deployment extras, not in requirements.txt); "
            f"{INSTALL_HINT}"
        )
    import psycopg2

    params = psycopg2.extensions.parse_dsn(_admin_dsn())
    host, port = params.get("host", "127.0.0.1"), int(params.get("port", 5432))
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        pytest.skip(
            f"no PostgreSQL server answers on {host}:{port} ({exc.strerror or exc}); start one, or "
            "point NIGHTSHIFT_TEST_POSTGRES_DSN at one"
        )
    try:
        conn = psycopg2.connect(_admin_dsn())
    except psycopg2.Error as exc:
        pytest.skip(
            f"PostgreSQL on {host}:{port} refused the test role ({str(exc).strip()}); set "
            "NIGHTSHIFT_TEST_POSTGRES_DSN to a DSN of a role that may create databases"
        )
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def database(admin: Any) -> Iterator[str]:
    """A fresh, empty database, dropped afterwards whatever happened."""
    name = f"nightshift_test_{secrets.token_hex(6)}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _sqlalchemy_url(admin: Any, database: str) -> str:
    params = admin.get_dsn_parameters()
    auth = quote(params["user"], safe="")
    password = admin.info.password
    if password:
        auth += ":" + quote(password, safe="")
    return f"postgresql+psycopg2://{auth}@{params['host']}:{params['port']}/{database}"


def _airflow(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The airflow CLI of this venv, in a private AIRFLOW_HOME on the given DB (nothing inherited from the
    test session's own Airflow settings)."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NIGHTSHIFT", "_AIRFLOW"))}
    (home / "dags").mkdir(exist_ok=True)
    env = {
        **keep,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    result = subprocess.run([airflow, *args], env=env, capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, (
        f"airflow {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def _pool(home: Path, url: str) -> dict[str, Any]:
    out = _airflow(home, url, "pools", "get", POOL, "--output", "json").stdout
    rows = json.loads(out[out.index("[") :])
    assert [row["pool"] for row in rows] == [POOL]
    return dict(rows[0])


def test_init_steps_on_a_fresh_postgres_database(admin: Any, database: str, tmp_path: Path) -> None:
    import psycopg2

    url = _sqlalchemy_url(admin, database)
    _airflow(tmp_path, url, "db", "migrate")
    _airflow(
        tmp_path,
        url,
        "pools",
        "set",
        POOL,
        "3",
        "Nightshift agent checkpoints: at most parallel_agents at once",
    )
    assert int(_pool(tmp_path, url)["slots"]) == 3

    # The init service runs on every `docker compose up`: both steps must be safe to repeat, and a changed
    # NIGHTSHIFT_PARALLEL_AGENTS must resize the pool.
    _airflow(tmp_path, url, "db", "migrate")
    _airflow(
        tmp_path,
        url,
        "pools",
        "set",
        POOL,
        "5",
        "Nightshift agent checkpoints: at most parallel_agents at once",
    )
    assert int(_pool(tmp_path, url)["slots"]) == 5

    # ... and it all went to this PostgreSQL database, not to a stray SQLite file.
    params = {**admin.get_dsn_parameters(), "dbname": database}
    dsn = " ".join(f"{k}={params[k]}" for k in ("host", "port", "user", "dbname"))
    with psycopg2.connect(dsn, password=admin.info.password or None) as conn, conn.cursor() as cur:
        cur.execute("SELECT slots FROM slot_pool WHERE pool = %s", (POOL,))
        assert cur.fetchall() == [(5,)]
        cur.execute("SELECT count(*) FROM alembic_version")
        assert cur.fetchone() == (1,)
    assert not list(tmp_path.glob("*.db")), "a SQLite file appeared: the CLI did not use the PostgreSQL URL"
