"""The distributed path without Docker: the local stack on PostgreSQL and Redis with CeleryExecutor and
several Celery workers, each a separate process that names itself (NIGHTSHIFT_WORKER_NAME), so a test
can tell which worker ran which task. Used by tests/e2e/test_celery_e2e.py.

Needs the deployment extras (psycopg2, the celery provider, redis: requirements-deploy.txt) and servers
on 127.0.0.1:5432 (user postgres, trust auth; NIGHTSHIFT_TEST_POSTGRES_DSN overrides) and
127.0.0.1:6379. `missing()` says what is not there; `start_servers()` starts an installed one that is
not running, in a private folder.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from nightshift_local.stack import AirflowStack

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
REDIS = ("127.0.0.1", 6379)


def worker_hostname() -> str:
    """Airflow's `core.hostname_callable` for the workers: the task instance's hostname is the worker."""
    return os.environ.get("NIGHTSHIFT_WORKER_NAME") or socket.getfqdn()


def _answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


def missing_packages() -> list[str]:
    names = ("psycopg2", "redis", "celery", "airflow.providers.celery", "airflow.providers.postgres")
    return [name for name in names if importlib.util.find_spec(name) is None]


def start_servers(folder: Path) -> tuple[list[str], list[subprocess.Popen[bytes]]]:
    """Start PostgreSQL or Redis when installed and not answering; (what is still missing, started)."""
    problems: list[str] = []
    started: list[subprocess.Popen[bytes]] = []
    if not _answers(*REDIS):
        exe = shutil.which("redis-server")
        if exe is None:
            problems.append("no Redis on 127.0.0.1:6379 and no redis-server installed")
        else:
            started.append(
                subprocess.Popen(
                    [exe, "--bind", "127.0.0.1", "--port", str(REDIS[1]), "--save", "", "--dir", str(folder)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
    if not _answers("127.0.0.1", 5432):
        initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
        if initdb is None or pg_ctl is None:
            problems.append("no PostgreSQL on 127.0.0.1:5432 and no initdb/pg_ctl installed")
        else:
            data = folder / "pgdata"
            subprocess.run(
                [initdb, "-D", str(data), "-U", "postgres", "--auth=trust"], check=True, capture_output=True
            )
            subprocess.run(
                [
                    pg_ctl,
                    "-D",
                    str(data),
                    "-o",
                    "-h 127.0.0.1 -p 5432 -k /tmp",
                    "-w",
                    "start",
                    "-l",
                    str(folder / "postgres.log"),
                ],
                check=True,
                capture_output=True,
            )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (_answers(*REDIS) and _answers("127.0.0.1", 5432)):
        time.sleep(0.5)
    return problems, started


@dataclass
class CeleryDeployment:
    """A fresh metadata database and Redis database for one stack, and its Celery workers."""

    stack: AirflowStack
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    database: str = field(default_factory=lambda: f"nightshift_celery_{secrets.token_hex(4)}")
    redis_db: int = field(default_factory=lambda: 1 + secrets.randbelow(15))

    def _admin(self):  # type: ignore[no-untyped-def]
        import psycopg2

        conn = psycopg2.connect(os.environ.get("NIGHTSHIFT_TEST_POSTGRES_DSN") or PG_DSN)
        conn.autocommit = True
        return conn

    def _sql(self, statement: str) -> None:
        """One statement outside a transaction block (CREATE/DROP DATABASE need that)."""
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def configure(self) -> None:
        """Create the database and point every Airflow component of the stack at Postgres and Redis."""
        self._sql(f'CREATE DATABASE "{self.database}"')
        url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{self.database}"
        self.stack.extra_env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/{self.redis_db}",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://postgres@127.0.0.1:5432/{self.database}",
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "nightshift_local.celery_stack.worker_hostname",
            }
        )

    def start_workers(self, names: tuple[str, ...], concurrency: int) -> None:
        for name in names:
            env = {**self.stack.env(), "NIGHTSHIFT_WORKER_NAME": name}
            log = (self.stack.home / "logs" / f"worker-{name}.log").open("ab")
            self.workers[name] = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("airflow")),
                    "celery",
                    "worker",
                    "--skip-serve-logs",
                    "--celery-hostname",
                    f"{name}@nightshift",
                    "--concurrency",
                    str(concurrency),
                    "--without-gossip",
                    "--without-mingle",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.wait_for_workers(names)

    def wait_for_workers(self, names: tuple[str, ...], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.workers.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"celery worker {name} exited; see {self.stack.home}/logs/worker-{name}.log"
                    )
            logs = [(self.stack.home / "logs" / f"worker-{n}.log").read_text(errors="replace") for n in names]
            if all(" ready." in text for text in logs):
                return
            time.sleep(1)
        raise RuntimeError(f"celery workers not ready after {timeout}s; see {self.stack.home}/logs")

    def stop(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.workers.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.workers.clear()

    def drop(self) -> None:
        self._sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        import redis

        redis.Redis(host=REDIS[0], port=REDIS[1], db=self.redis_db).flushdb()
