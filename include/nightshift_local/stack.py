"""A real Airflow deployment on loopback for the demo and the end-to-end tests.

Starts the api-server (127.0.0.1 only), scheduler, triggerer and dag-processor as separate processes
on the embedded default (SQLite, LocalExecutor), with a private AIRFLOW_HOME, Nightshift's pool, and
connections passed as AIRFLOW_CONN_* variables. `airflow standalone` is avoided: its log servers bind
every interface.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from nightshift.config import AGENTS_POOL, DAG_ID

REPO = Path(__file__).resolve().parents[2]


def _parent_death_signal() -> Callable[[], None] | None:
    """Linux: a pre-exec hook that makes a component get SIGTERM if the process that started it dies,
    even by SIGKILL. Resolved in the parent, so the forked child only makes one libc call."""
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AirflowStack:
    home: Path
    pool_slots: int = 3
    parallelism: int = 6
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    _token: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NIGHTSHIFT"))}
        env = {
            **keep,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.home / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # SQLite's default lock wait is 5 s: wait up to 30 s on a loaded machine. A 200-ticket night
            # still ends with "database is locked" here (the scheduler or dag-processor dies): that size
            # needs the Postgres deployment (docker-compose.yaml), not the embedded default.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}?timeout=30",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt"),
            "AIRFLOW__API__SECRET_KEY": self._secret("api"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,reviewer:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            # An idle loop sleeps this long (default 1 s): a finished checkpoint's agent slot waits for
            # the next loop before the next checkpoint is queued, three times per ticket.
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # The DAG file does not change during a batch: re-parsing it every 5 s cost CPU on 2 cores.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__TRIGGERER__CAPACITY": "200",  # `default_capacity` before Airflow 3.0
            # Every task start, heartbeat and finish goes through the api-server's execution API: one
            # worker per core (the option's own advice) instead of one for the whole machine.
            "AIRFLOW__API__WORKERS": str(min(os.cpu_count() or 1, 2)),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "NIGHTSHIFT_DISABLE_SCHEDULE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.extra_env)
        return env

    def _secret(self, name: str) -> str:
        path = self.home / f".{name}-secret"
        if not path.exists():
            path.write_text(secrets.token_hex(48))
        return path.read_text()

    def airflow(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def start(self) -> AirflowStack:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "plugins").mkdir(exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        self._write_local_settings()
        (self.home / "passwords.json").write_text(
            json.dumps({"admin": self.password, "reviewer": self.password})
        )
        self.port = self.port or free_port()
        self.airflow("db", "migrate")
        self.airflow(
            "pools",
            "set",
            AGENTS_POOL,
            str(self.pool_slots),
            "Nightshift agent checkpoints: at most parallel_agents at once",
        )
        for name, args in (
            ("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self.port)]),
            ("scheduler", ["scheduler", "--skip-serve-logs"]),
            ("triggerer", ["triggerer", "--skip-serve-logs"]),
            ("dag-processor", ["dag-processor"]),
        ):
            log = (self.home / "logs" / f"{name}.log").open("ab")
            self.processes[name] = subprocess.Popen(
                [str(Path(sys.executable).with_name("airflow")), *args],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )
        self._wait_healthy()
        return self

    def _write_local_settings(self) -> None:
        """Airflow imports `$AIRFLOW_HOME/config/airflow_local_settings.py` in every process before it
        forks workers and tasks: preloading Nightshift's modules there spares each task instance the
        imports (see nightshift_airflow.preload)."""
        # The same command the image runs (a subprocess: the local stack never imports the adapters).
        subprocess.run(
            [sys.executable, "-m", "nightshift_airflow.preload", str(self.home / "config")],
            check=True,
            capture_output=True,
        )

    def _wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"airflow {name} exited with {proc.returncode}; see {self.home}/logs/{name}.log"
                    )
            try:
                if requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        raise RuntimeError(f"airflow api-server not healthy after {timeout}s; see {self.home}/logs")

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.processes.clear()

    # -- REST ---------------------------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None:
            resp = requests.post(
                f"{self.base_url}/auth/token",
                json={"username": "admin", "password": self.password},
                timeout=10,
            )
            resp.raise_for_status()
            self._token = resp.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = requests.request(
            method,
            f"{self.base_url}/api/v2{path}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=30,
            **kwargs,
        )
        if not resp.ok:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:500]}")
        return resp.json() if resp.content else None

    def wait_for_dag(self, dag_id: str = DAG_ID, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                dag = self.api("GET", f"/dags/{dag_id}")
                if dag.get("is_paused"):
                    self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
                return
            except RuntimeError:
                time.sleep(2)
        errors = self.api("GET", "/importErrors")
        raise RuntimeError(f"DAG {dag_id} not parsed after {timeout}s; import errors: {errors}")

    def trigger(
        self, conf: dict[str, Any] | None = None, dag_id: str = DAG_ID, run_id: str | None = None
    ) -> str:
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return str(self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def xcom(self, run_id: str, task_id: str, map_index: int = -1, dag_id: str = DAG_ID) -> Any:
        entry = self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"map_index": map_index, "deserialize": True},
        )
        return entry["value"]

    def run_state(self, run_id: str, dag_id: str = DAG_ID) -> str:
        return str(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_instances(self, run_id: str, dag_id: str = DAG_ID) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.api(
                "GET",
                f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                params={"limit": 100, "offset": offset},
            )
            out += page["task_instances"]
            offset += 100
            if offset >= page["total_entries"]:
                return out

    def wait_for_run(self, run_id: str, timeout: float, progress: Any = None, dag_id: str = DAG_ID) -> str:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            state = self.run_state(run_id, dag_id)
            if progress is not None:
                line = progress(self.task_instances(run_id, dag_id))
                if line and line != last:
                    print(line, flush=True)
                    last = line
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise TimeoutError(f"run {run_id} still running after {timeout}s")


@contextmanager
def airflow_stack(home: Path, **kwargs: Any) -> Iterator[AirflowStack]:
    stack = AirflowStack(home=home, **kwargs)
    try:
        yield stack.start()
    finally:
        stack.stop()
