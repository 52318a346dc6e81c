"""`python -m nightshift config check [FILE]` names every problem of a configuration, by key path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "nightshift", "config", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_the_shipped_default_is_valid():
    proc = run(str(REPO / "include" / "nightshift" / "defaults" / "nightshift.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("valid")


def test_every_problem_is_named_with_its_key(tmp_path):
    bad = tmp_path / "nightshift.yaml"
    bad.write_text(
        "schedule:\n  timezone: Mars/Olympus\n  frequency: {kind: continuous, every_hours: 5}\n"
        "windows: {gates: six}\n"
        "batch: {parallel_agents: 0}\n"
        "forge: {gitlab_conn: x}\n"
    )
    proc = run(str(bad), env={"NIGHTSHIFT_TIMEZONE": "Nowhere/Land"})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].endswith("6 problem(s)")
    text = "\n".join(lines)
    for where in (
        "schedule.timezone: ",
        "schedule.frequency.every_hours: ",
        "windows.gates: ",
        "batch.parallel_agents: ",
        "forge.gitlab_conn: ",
        "NIGHTSHIFT_TIMEZONE: ",
    ):
        assert where in text, where


def test_unreadable_yaml_is_one_clear_problem(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("schedule: [unclosed\n")
    proc = run(str(bad))
    assert proc.returncode == 1 and "broken.yaml" in proc.stderr


def test_the_shipped_default_is_production_shaped(monkeypatch):
    """No scripted agent, no demo tickets, no demo repository: the demo brings its own config."""
    from nightshift.config import DEFAULT_CONFIG, load_config

    monkeypatch.delenv("NIGHTSHIFT_CONFIG", raising=False)
    config = load_config(DEFAULT_CONFIG)
    assert config.agent.backend == "command" and config.agent.preset == "claude-code"
    assert config.intake.sources == [] and config.intake.routing.default_repository is None
    assert "include/demo" not in DEFAULT_CONFIG.read_text().split("\nagent:", 1)[1]


def test_the_demo_brings_its_own_config(tmp_path):
    from nightshift.config import NightshiftConfig
    from nightshift_local.demo import demo_config

    demo = NightshiftConfig.model_validate(demo_config(tmp_path, parallel_agents=2))
    assert demo.agent.backend == "scripted" and demo.intake.routing.default_repository


def test_a_source_problem_is_named_with_the_source_and_field(tmp_path):
    bad = tmp_path / "nightshift.yaml"
    bad.write_text(
        "intake:\n  sources:\n"
        "    - {kind: gitlab, name: gl, connection_id: g, jql: 'x = 1'}\n"
        "    - {kind: redmine}\n"
    )
    proc = run(str(bad))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].endswith("2 problem(s)")
    assert "intake.sources.0.gitlab: " in proc.stderr and "source 'gl'" in proc.stderr
    assert "not jql (jql is for kind jira)" in proc.stderr
    assert "intake.sources.1: a source needs kind: files, jira or gitlab" in proc.stderr
