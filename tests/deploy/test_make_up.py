"""`make up`: the local deployment on loopback from one settings file. The settings alone decide the
stack (connections, config, the pool sized from batch.parallel_agents); the real run prints the
credentials, answers on 127.0.0.1 only, and stops every component on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from nightshift_local.stack import free_port
from nightshift_local.up import DEFAULT_SETTINGS, build_stack

REPO = Path(__file__).resolve().parents[2]


def settings(tmp_path: Path, parallel_agents: int = 4, port: int = 8080) -> Path:
    config = tmp_path / "nightshift.yaml"
    config.write_text(f"batch: {{parallel_agents: {parallel_agents}}}\n")
    path = tmp_path / "local.yaml"
    path.write_text(
        f"home: airflow\nport: {port}\nnightshift_config: nightshift.yaml\nnightshift_home: state\n"
        "connections:\n  gitlab_default: {conn_type: gitlab, host: 'http://127.0.0.1:9', password: '${TOKEN_X}'}\n"
    )
    return path


def test_the_settings_file_decides_the_stack(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKEN_X", "glpat-secret")
    stack = build_stack(settings(tmp_path, parallel_agents=4))
    assert stack.pool_slots == 4  # from the configuration's batch.parallel_agents
    assert stack.home == tmp_path / "airflow" and stack.port == 8080
    stack.home.mkdir(parents=True)
    env = stack.env()
    assert json.loads(env["AIRFLOW_CONN_GITLAB_DEFAULT"])["password"] == "glpat-secret"
    assert env["NIGHTSHIFT_CONFIG"] == str(tmp_path / "nightshift.yaml")
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and not env["NIGHTSHIFT_DISABLE_SCHEDULE"]


def test_a_missing_variable_or_a_bad_config_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("TOKEN_X", raising=False)
    with pytest.raises(ValueError, match=r"\$\{TOKEN_X\}"):
        build_stack(settings(tmp_path))
    monkeypatch.setenv("TOKEN_X", "x")
    (tmp_path / "nightshift.yaml").write_text("batch: {parallel_agents: 0}\n")
    with pytest.raises(ValueError, match="parallel_agents"):
        build_stack(tmp_path / "local.yaml")


def test_the_shipped_settings_file_is_valid(monkeypatch):
    monkeypatch.setenv("NIGHTSHIFT_GITLAB_URL", "https://gitlab.example.com")
    monkeypatch.setenv("NIGHTSHIFT_GITLAB_TOKEN", "glpat-x")
    stack = build_stack(DEFAULT_SETTINGS)
    assert stack.pool_slots == 3 and stack.port == 8080


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_make_up_runs_on_loopback_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    path = settings(tmp_path, parallel_agents=2, port=port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nightshift_local.up", str(path)],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}, "TOKEN_X": "glpat-x"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            lines.append(line)
            if "ready;" in line:
                break
        assert any("ready;" in line for line in lines), "".join(lines)[-3000:]
        password = re.search(r"user admin, password (\S+)", "".join(lines)).group(1)  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        token = requests.post(
            f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        pool = requests.get(f"{base}/api/v2/pools/nightshift_agents", headers=headers, timeout=30).json()
        assert pool["slots"] == 2
    finally:
        os.kill(proc.pid, signal.SIGINT)  # what Ctrl-C sends
        out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out[-2000:]
    assert "nightshift up: stopped" in out
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5)
