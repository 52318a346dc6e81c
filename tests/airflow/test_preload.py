"""The preload: one airflow_local_settings.py for the local stack and the image, which imports every
task module in the parent process and never stops Airflow from starting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nightshift_airflow import preload

REPO = Path(__file__).resolve().parents[2]


def test_every_listed_module_imports():
    assert preload.preload() == []


def test_a_module_that_fails_is_logged_and_skipped(monkeypatch, caplog):
    monkeypatch.setattr(preload, "MODULES", ("nightshift.generation.flow", "nightshift_airflow.no_such_module"))
    assert preload.preload() == ["nightshift_airflow.no_such_module"]
    assert "no_such_module not imported" in caplog.text


def test_the_settings_file_loads_the_task_modules_in_a_fresh_interpreter(tmp_path):
    target = preload.install(tmp_path / "config")
    assert preload.install(tmp_path / "config") == target  # rewriting is harmless
    assert [p.name for p in target.parent.iterdir()] == ["airflow_local_settings.py"]
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1]);"
        "print(all(m in sys.modules for m in ('nightshift_airflow.operators.ticket_steps',"
        " 'nightshift.generation.flow')))"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(target)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "True"


def test_the_command_line_installs_it_as_the_image_does(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "nightshift_airflow.preload", str(tmp_path / "cfg")],
        capture_output=True, text=True, check=True,
    )
    assert Path(out.stdout.strip()).read_text() == preload.LOCAL_SETTINGS
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "python -m nightshift_airflow.preload /opt/airflow/config" in dockerfile
