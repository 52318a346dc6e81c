"""The core finds its shipped defaults in the installed package (importlib.resources), not in a source
tree: a wheel installed without `-e` loads the default configuration, its agent preset and prompts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = (
    "nightshift/defaults/nightshift.yaml",
    "nightshift/defaults/agents.yaml",
    "nightshift/defaults/prices.yaml",
    "nightshift/defaults/prompts/C2.md",
    "nightshift/defaults/semgrep/python.yml",
)


def test_the_defaults_are_read_through_importlib_resources():
    from importlib.resources import files

    from nightshift.agents.config import DEFAULT_PRESETS_FILE, DEFAULT_PROMPTS_DIR
    from nightshift.config import DEFAULT_CONFIG

    package = Path(str(files("nightshift.defaults")))
    assert DEFAULT_CONFIG == package / "nightshift.yaml"
    assert DEFAULT_PRESETS_FILE.parent == package and DEFAULT_PROMPTS_DIR == package / "prompts"
    assert not (REPO / "include" / "config").exists(), "the defaults live inside the package now"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the project (the checkout is left alone)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("include", "plugins"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = (root / "dist").glob("nightshift-*.whl")
    return built


def test_the_wheel_records_the_defaults(wheel):
    with zipfile.ZipFile(wheel) as zf:
        record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        listed = {line.split(",", 1)[0] for line in zf.read(record).decode().splitlines()}
    for name in SHIPPED:
        assert name in listed, f"{name} is not package data of the wheel"


def test_a_non_editable_install_loads_its_default_configuration(wheel, tmp_path):
    """`pip install --target` is a plain install: nothing points back at the source tree. The interpreter
    runs from an empty folder with that install first on the path and NIGHTSHIFT_CONFIG unset."""
    target = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    probe = (
        "import json, nightshift, nightshift.config as c\n"
        "config = c.load_config()\n"
        "print(json.dumps({'module': nightshift.__file__, 'default': str(c.DEFAULT_CONFIG),\n"
        "  'preset': config.agent.preset, 'command': config.agent.command[:1],\n"
        "  'prompts': str(config.agent.prompts_dir)}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTSHIFT")}
    env["PYTHONPATH"] = str(target)
    env["NIGHTSHIFT_HOME"] = str(tmp_path / "home")
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["module"].startswith(str(target)), seen
    assert seen["default"] == str(target / "nightshift" / "defaults" / "nightshift.yaml")
    assert seen["prompts"].startswith(str(target)), "the prompts come from the install too"
    assert seen["preset"] == "claude-code" and seen["command"], "the preset was read from the packaged agents.yaml"

    check = subprocess.run(
        [sys.executable, "-m", "nightshift", "config", "check"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith(str(target)) and check.stdout.strip().endswith("valid")
