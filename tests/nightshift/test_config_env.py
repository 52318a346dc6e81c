"""Environment overrides: NIGHTSHIFT__SECTION__KEY=value, validated by the config schema, named when bad."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nightshift.config import check_config, config_problems, load_config
from nightshift.config_env import read_overrides


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("NIGHTSHIFT_"):
            monkeypatch.delenv(name)
    path = tmp_path / "nightshift.yaml"
    path.write_text("batch: {parallel_agents: 2}\nwindows: {gates: '06:00'}\nforge: {labels: [nightshift]}\n")
    return path


def test_double_underscore_nests_and_values_are_yaml(config_file, monkeypatch):
    monkeypatch.setenv("NIGHTSHIFT__BATCH__PARALLEL_AGENTS", "4")
    monkeypatch.setenv("NIGHTSHIFT__ALERTS__ENABLED", "false")
    monkeypatch.setenv("NIGHTSHIFT__FORGE__LABELS", "[nightshift, night]")
    monkeypatch.setenv("NIGHTSHIFT__WINDOWS__GATES", "05:30")  # a clock time, not YAML 1.1 base-60
    monkeypatch.setenv("NIGHTSHIFT__GENERATION__ESCALATION__MAX_FILES_OUTSIDE_ESTIMATE", "7")
    config = load_config(config_file)
    assert config.batch.parallel_agents == 4
    assert config.alerts.enabled is False
    assert config.forge.labels == ["nightshift", "night"]
    assert config.windows.gates == "05:30"
    assert config.generation.escalation.max_files_outside_estimate == 7
    assert config.batch.max_tickets == 20, "keys not overridden keep the file's or the schema's value"


def test_the_older_names_are_aliases_and_the_general_form_wins(config_file, monkeypatch):
    monkeypatch.setenv("NIGHTSHIFT_WORKDIR", "/srv/work")
    monkeypatch.setenv("NIGHTSHIFT_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("NIGHTSHIFT_ARTIFACTS_URL", "file:///a")
    monkeypatch.setenv("NIGHTSHIFT__ARTIFACTS_URL", "file:///b")
    config = load_config(config_file)
    assert config.workdir == "/srv/work" and config.schedule.timezone == "Europe/Berlin"
    assert config.artifacts_url == "file:///b"


def test_a_bad_override_is_named_by_its_variable(config_file, monkeypatch):
    monkeypatch.setenv("NIGHTSHIFT__BATCH__PARALLEL_AGENTS", "0")
    monkeypatch.setenv("NIGHTSHIFT__BATCH__MAX_TICKETZ", "3")
    monkeypatch.setenv("NIGHTSHIFT__BATCH__PARALLEL_AGENTS__X", "1")
    monkeypatch.setenv("NIGHTSHIFT__FORGE__LABELS", "[unclosed")
    monkeypatch.setenv("NIGHTSHIFT__", "1")
    problems = config_problems(config_file)
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert "NIGHTSHIFT__BATCH__PARALLEL_AGENTS: batch.parallel_agents: " in text
    assert "NIGHTSHIFT__BATCH__MAX_TICKETZ: batch.max_ticketz: Extra inputs are not permitted" in text
    assert "NIGHTSHIFT__BATCH__PARALLEL_AGENTS__X: batch.parallel_agents is a value, not a section" in text
    assert "NIGHTSHIFT__FORGE__LABELS: not a YAML value" in text
    assert "NIGHTSHIFT__: not a key path" in text
    with pytest.raises(ValueError, match=r"NIGHTSHIFT__BATCH__PARALLEL_AGENTS: batch\.parallel_agents"):
        load_config(config_file)


def test_the_file_is_checked_by_itself_too(config_file, monkeypatch):
    """An override does not hide a broken file: removing the variable would break the deployment."""
    config_file.write_text("batch: {parallel_agents: 0}\n")
    monkeypatch.setenv("NIGHTSHIFT__BATCH__PARALLEL_AGENTS", "2")
    checked = check_config(config_file)
    assert checked.config is None
    assert [p.split(": ", 1)[0] for p in checked.problems] == [str(config_file)]


def test_only_the_nightshift_double_underscore_prefix_is_read():
    overrides, problems = read_overrides({"NIGHTSHIFT_HOME": "/x", "NIGHTSHIFT_CONFIG": "/y", "OTHER__A": "1"})
    assert overrides == [] and problems == []


def test_config_check_reports_the_overrides_in_effect(config_file):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTSHIFT")}
    env |= {"NIGHTSHIFT__BATCH__PARALLEL_AGENTS": "5", "NIGHTSHIFT__ALERTS__NOTIFIER_KWARGS": "{token: s3cret}"}
    proc = subprocess.run(
        [sys.executable, "-m", "nightshift", "config", "check", str(config_file)],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "override: NIGHTSHIFT__BATCH__PARALLEL_AGENTS -> batch.parallel_agents = 5" in proc.stdout
    assert "NIGHTSHIFT__ALERTS__NOTIFIER_KWARGS -> alerts.notifier_kwargs = ***" in proc.stdout
    assert "s3cret" not in proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("valid")

    env["NIGHTSHIFT__BATCH__PARALLEL_AGENTS"] = "many"
    proc = subprocess.run(
        [sys.executable, "-m", "nightshift", "config", "check", str(config_file)],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 1
    assert "NIGHTSHIFT__BATCH__PARALLEL_AGENTS: batch.parallel_agents: " in proc.stderr
