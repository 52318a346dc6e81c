"""docker-compose.yaml passes the compose-spec JSON schema (the copy check-jsonschema ships, from PyPI:
requirements-dev.txt), offline: `check-jsonschema --builtin-schema vendor.compose-spec`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    if exe is None:
        pytest.skip("check-jsonschema not installed: pip install check-jsonschema (requirements-dev.txt)")
    return subprocess.run(
        [exe, "--no-cache", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_compose_file_passes_the_compose_spec_schema():
    proc = _check(REPO / "docker-compose.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_catches_a_misspelt_key(tmp_path):
    """The check is not vacuous: a service key the spec does not know fails it, named."""
    bad = tmp_path / "docker-compose.yaml"
    text = (REPO / "docker-compose.yaml").read_text()
    bad.write_text(text.replace("    healthcheck:", "    healthchek:", 1))
    assert "healthchek" in bad.read_text()
    proc = _check(bad)
    assert proc.returncode == 1 and "healthchek" in proc.stdout + proc.stderr
