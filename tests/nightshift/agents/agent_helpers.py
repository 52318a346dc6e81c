"""Helpers shared by the agent runner tests (imported as a plain module: this folder is on sys.path)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

#: Planted in the parent environment of every agent test (security doc: canaries visible = 0).
CANARIES = {
    "AIRFLOW__CORE__FERNET_KEY": "canary-fernet-6d1f0b2a9c3e4d5f",
    "NIGHTSHIFT_CANARY": "canary-nightshift-84a7c2e1b9d0",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://airflow:canary-dbpass-55e1@db/airflow",
    "GITLAB_TOKEN": "glpat-canaryCANARYcanary1234",
}

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    ).stdout


def marked_processes(marker: str) -> list[int]:
    """Host processes whose command line carries the marker (the check for 'processes left')."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry.name))
    return found
