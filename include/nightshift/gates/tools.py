"""Analysis tools the gates run that cannot live in the project's own environment.

semgrep pins versions that conflict with Airflow's, so it gets its own venv, pinned by version, under a
cache folder (NIGHTSHIFT_TOOL_VENVS, default ~/.cache/nightshift/tool-venvs). `python -m nightshift
gates install-tools` builds it with the project's own pip (so the machine's index configuration applies);
the gates never install anything themselves: a missing tool makes its check part `not_run`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from nightshift.filelock import exclusive

SEMGREP_VERSION = "1.185.0"
_COMPLETE = ".nightshift-complete"


class ToolInstallError(RuntimeError):
    """A tool could not be installed; the message carries the end of the installer's output."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        #: Everything the failed step printed (callers look for signs of an unreachable registry).
        self.output = output


def tool_venvs_root() -> Path:
    return Path(
        os.environ.get("NIGHTSHIFT_TOOL_VENVS") or Path.home() / ".cache" / "nightshift" / "tool-venvs"
    )


def install_once(
    folder: Path,
    what: str,
    steps: Sequence[Sequence[str]],
    *,
    ready: Path,
    best_effort: Sequence[Sequence[str]] = (),
    timeout: float = 900,
) -> None:
    """Build `folder` by running `steps`, once: a later call finds it complete and returns at once.

    Installs are serialised by a lock file next to `folder`; `folder` counts as complete only when its
    completion marker and `ready` (the file the caller will run) both exist, so an interrupted install
    is redone from scratch. `best_effort` steps run last and may fail. Raises ToolInstallError.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(folder.parent / ".install.lock"):
        if (folder / _COMPLETE).is_file() and ready.exists():
            return
        shutil.rmtree(folder, ignore_errors=True)
        for step in steps:
            proc = subprocess.run(
                list(step), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
            if proc.returncode != 0:
                shutil.rmtree(folder, ignore_errors=True)
                output = proc.stdout + proc.stderr
                raise ToolInstallError(f"could not install {what}: {output[-1500:]}", output)
        for step in best_effort:
            subprocess.run(
                list(step), capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
            )
        (folder / _COMPLETE).write_text(what + "\n")


def pinned_venv(
    folder: Path,
    requirements: Sequence[str],
    executable: str,
    *,
    compile_bytecode: bool = False,
    timeout: float = 900,
) -> Path:
    """bin/<executable> of a venv at `folder` holding the pinned `requirements`, installed once with the
    project's own pip (so the machine's package index configuration applies).

    `compile_bytecode` byte-compiles the venv for a sandbox that mounts it read-only (and so could not
    cache bytecode): without it every run would compile its modules again.
    """
    python = folder / "bin" / "python"
    install_once(
        folder,
        " ".join(requirements),
        [
            [sys.executable, "-m", "venv", "--without-pip", str(folder)],
            [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", *requirements],
        ],
        ready=folder / "bin" / executable,
        best_effort=[[str(python), "-m", "compileall", "-q", "-j", "0", str(folder)]]
        if compile_bytecode
        else [],
        timeout=timeout,
    )
    exe = folder / "bin" / executable
    if not exe.is_file():
        raise ToolInstallError(f"{' '.join(requirements)} installed but {exe} is missing")
    return exe


def semgrep_venv(root: Path | None = None) -> Path:
    return (root or tool_venvs_root()) / f"semgrep-{SEMGREP_VERSION}"


def semgrep_executable(root: Path | None = None) -> Path | None:
    """The pinned semgrep, when its venv was completely installed; None otherwise."""
    venv = semgrep_venv(root)
    exe = venv / "bin" / "semgrep"
    return exe if (venv / _COMPLETE).is_file() and exe.is_file() else None


def install_semgrep(root: Path | None = None, *, timeout: float = 900) -> Path:
    """Install the pinned semgrep into its own venv (once; later calls return at once)."""
    return pinned_venv(semgrep_venv(root), [f"semgrep=={SEMGREP_VERSION}"], "semgrep", timeout=timeout)
