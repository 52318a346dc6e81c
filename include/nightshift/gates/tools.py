"""Analysis tools the gates run that cannot live in the project's own environment.

semgrep pins versions that conflict with Airflow's, so it gets its own venv, pinned by version, under a
cache folder (NIGHTSHIFT_TOOL_VENVS, default ~/.cache/nightshift/tool-venvs). `python -m nightshift
gates install-tools` builds it with the project's own pip (so the machine's index configuration applies);
the gates never install anything themselves: a missing tool makes its check part `not_run`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

SEMGREP_VERSION = "1.185.0"
_COMPLETE = ".nightshift-complete"


class ToolInstallError(RuntimeError):
    """pip could not install a tool; the message carries the end of pip's output."""


def tool_venvs_root() -> Path:
    return Path(
        os.environ.get("NIGHTSHIFT_TOOL_VENVS") or Path.home() / ".cache" / "nightshift" / "tool-venvs"
    )


def semgrep_venv(root: Path | None = None) -> Path:
    return (root or tool_venvs_root()) / f"semgrep-{SEMGREP_VERSION}"


def semgrep_executable(root: Path | None = None) -> Path | None:
    """The pinned semgrep, when its venv was completely installed; None otherwise."""
    venv = semgrep_venv(root)
    exe = venv / "bin" / "semgrep"
    return exe if (venv / _COMPLETE).is_file() and exe.is_file() else None


def install_semgrep(root: Path | None = None, *, timeout: float = 900) -> Path:
    """Install the pinned semgrep into its own venv (once; later calls return at once)."""
    root = root or tool_venvs_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = semgrep_venv(root)
    with open(root / ".install.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        existing = semgrep_executable(root)
        if existing is not None:
            return existing
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(venv / "bin" / "python"),
                "install",
                "--quiet",
                f"semgrep=={SEMGREP_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise ToolInstallError(
                f"pip could not install semgrep=={SEMGREP_VERSION}: {(proc.stdout + proc.stderr)[-1500:]}"
            )
        (venv / _COMPLETE).write_text(f"semgrep=={SEMGREP_VERSION}\n")
    exe = semgrep_executable(root)
    if exe is None:
        raise ToolInstallError(f"semgrep=={SEMGREP_VERSION} installed but {venv}/bin/semgrep is missing")
    return exe
