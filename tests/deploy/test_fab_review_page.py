"""The compose deployment's auth manager for real: the init service's own script (taken from
docker-compose.yaml) migrates Airflow and FAB and creates the first admin in a private AIRFLOW_HOME on
SQLite, twice, as every `docker compose up` does, and a Viewer is added with `airflow users create`; then
`airflow api-server` with the FAB auth manager and Nightshift's plugin serves the review page on
127.0.0.1 only to a user who signed in.

Marked e2e (about two minutes of real Airflow processes): CI's full `make test` runs it, quick runs skip it.
Skips, saying why, when the deployment extras (apache-airflow-providers-fab) are not installed.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import yaml

from nightshift_local.stack import free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


def init_script() -> str:
    """The airflow-init service's bash script as its container runs it (Compose turns `$$` into `$`)."""
    command = compose()["services"]["airflow-init"]["command"]
    assert command[:2] == ["bash", "-c"], command
    return command[2].replace("$$", "$")


def stack_env(home: Path, port: int, admin_password: str) -> dict[str, str]:
    """The compose file's auth manager on the embedded default: SQLite, one private AIRFLOW_HOME, loopback."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NIGHTSHIFT"))}
    auth_manager = compose()["x-airflow-common"]["environment"]["AIRFLOW__CORE__AUTH_MANAGER"]
    base_url = f"http://127.0.0.1:{port}"
    return {
        **keep,
        # The venv's `airflow` and `python`, as the image's PATH gives the init script.
        "PATH": f"{BIN}{os.pathsep}{keep.get('PATH', '/usr/bin:/bin')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__AUTH_MANAGER": auth_manager,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?timeout=30",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        # The plugin (the review page) comes through its entry point, as in the image.
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__API__WORKERS": "2",  # as in compose: tokens issued by one worker are checked by the other
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(48),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
        "NIGHTSHIFT_HOME": str(home / "nightshift"),
        "NIGHTSHIFT_ARTIFACTS_URL": f"file://{home / 'artifacts'}",
        "NIGHTSHIFT_WORKDIR": str(home / "work"),
        "AIRFLOW_ADMIN_USERNAME": "admin",
        "AIRFLOW_ADMIN_PASSWORD": admin_password,
        "AIRFLOW_ADMIN_EMAIL": "admin@example.com",
        "PYTHONUNBUFFERED": "1",
    }


def run_init(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", init_script()], env=env, capture_output=True, text=True, timeout=400, check=False
    )


def live_members(pgid: int) -> list[int]:
    """Processes of a process group that are still running (zombies waiting to be reaped are not)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


@contextmanager
def api_server(env: dict[str, str], home: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`airflow api-server` in its own session; stopped as a whole process group (its workers too)."""
    log = (home / "api-server.log").open("ab")
    proc = subprocess.Popen(
        [str(BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", env["AIRFLOW__API__PORT"]],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def wait_healthy(proc: subprocess.Popen[bytes], base_url: str, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"api-server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if requests.get(f"{base_url}/api/v2/monitor/health", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    pytest.fail(f"api-server not healthy after {timeout}s:\n{log.read_text()[-4000:]}")


def token(base_url: str, username: str, password: str) -> requests.Response:
    return requests.post(
        f"{base_url}/auth/token", json={"username": username, "password": password}, timeout=30
    )


def test_init_creates_the_admin_once_and_the_review_page_needs_a_fab_token(tmp_path: Path) -> None:
    if importlib.util.find_spec("airflow.providers.fab") is None:
        pytest.skip(
            "apache-airflow-providers-fab is not installed (deployment extras): .venv/bin/pip install "
            "-c constraints.txt -c constraints-deploy.txt -r requirements-deploy.txt"
        )
    home = tmp_path / "airflow"
    (home / "plugins").mkdir(parents=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    password = secrets.token_urlsafe(16)
    env = stack_env(home, port, password)

    first = run_init(env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert 'User "admin" created with role "Admin"' in first.stdout + first.stderr
    # The next `up` runs the whole script again, with a password changed in .env since: it completes
    # and leaves the existing admin as it is (the .env password is only the first one).
    later_password = secrets.token_urlsafe(16)
    second = run_init({**env, "AIRFLOW_ADMIN_PASSWORD": later_password})
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "admin already exists" in second.stdout + second.stderr
    # More users, as the README says: a reviewer with the Viewer role.
    viewer_password = secrets.token_urlsafe(16)
    viewer = subprocess.run(
        [str(BIN / "airflow"), "users", "create", "--role", "Viewer", "--username", "reviewer",
         "--email", "reviewer@example.com", "--firstname", "Re", "--lastname", "Viewer",
         "--password", viewer_password],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert viewer.returncode == 0, viewer.stdout[-3000:] + viewer.stderr[-3000:]

    with api_server(env, home) as proc:
        wait_healthy(proc, base_url, home / "api-server.log")
        pgid = proc.pid
        assert len(live_members(pgid)) > 1, "the api-server runs its workers in its own process group"

        signed_in = token(base_url, "admin", password)
        assert signed_in.status_code == 201, signed_in.text
        access_token = signed_in.json()["access_token"]
        assert token(base_url, "admin", "not-the-password").status_code == 401
        assert token(base_url, "admin", later_password).status_code == 401
        assert token(base_url, "nobody", password).status_code == 401

        anonymous = requests.get(f"{base_url}/nightshift/", timeout=30, allow_redirects=False)
        assert anonymous.status_code == 401
        page = requests.get(
            f"{base_url}/nightshift/",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=30,
            allow_redirects=False,
        )
        assert page.status_code == 200, page.text[:2000]
        assert "text/html" in page.headers["content-type"]
        reviewer = token(base_url, "reviewer", viewer_password)
        assert reviewer.status_code == 201, reviewer.text
        as_viewer = requests.get(
            f"{base_url}/nightshift/",
            headers={"Authorization": f"Bearer {reviewer.json()['access_token']}"},
            timeout=30,
            allow_redirects=False,
        )
        assert as_viewer.status_code == 200, "the Viewer role is enough to read the review page"

    # No orphan: the api-server's workers went with it.
    deadline = time.monotonic() + 15
    while live_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_members(pgid) == [], "api-server processes outlived the stop"
