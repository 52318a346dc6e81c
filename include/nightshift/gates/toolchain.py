"""The environment the tests run with: a prebuilt folder, or one built once per night by the repository's
`setup_command` and cached by the hash of its lock files.

The build runs in the sandbox with one way out: the agents' egress proxy, allowing only the package
index hosts (`toolchain.allowed_hosts`), from the BASE revision's lock files, so a merge request cannot
choose what is installed. The finished folder is mounted read-only for the test runs, at the path it
was built at (venvs hard-code their own path).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from nightshift.agents.egress import EgressPolicy, EgressProxy, sandbox_egress
from nightshift.agents.sandbox import (
    SANDBOX_HOME,
    SANDBOX_PATH,
    SANDBOX_TMP,
    Mount,
    ProcessLimits,
    Sandbox,
    SandboxSpec,
    python_runtime_paths,
)
from nightshift.filelock import exclusive
from nightshift.gates.config import GatesConfig
from nightshift.gates.diff import show
from nightshift.gates.tools import tool_venvs_root

_COMPLETE = ".nightshift-toolchain-complete"


class ToolchainError(RuntimeError):
    """The toolchain could not be built; the tests check is not_run with this reason."""


def toolchain_key(repo: Path, base: str, config: GatesConfig) -> str:
    """Hash of the setup command and the lock files as they are at the base."""
    digest = hashlib.sha256((config.toolchain.setup_command or "").encode())
    for name in sorted(config.toolchain.lock_files):
        digest.update(b"\0" + name.encode() + b"\0")
        digest.update(show(repo, base, name) or b"<absent>")
    return digest.hexdigest()[:20]


def toolchain_mounts(toolchain: Path) -> list[Mount]:
    """The toolchain and, for a venv, the Python installation it points at; read-only."""
    paths = {toolchain, *python_runtime_paths(toolchain)}
    return [Mount(p) for p in sorted(paths)]


def ensure_toolchain(
    repo: Path, base: str, config: GatesConfig, sandbox: Sandbox, workspace: Path, scratch: Path
) -> Path | None:
    """The toolchain folder to mount, building it if needed; None when none is configured."""
    tc = config.toolchain
    if tc.path:
        path = Path(tc.path).resolve()
        if not path.is_dir():
            raise ToolchainError(f"the toolchain folder {tc.path} does not exist")
        return path
    if not tc.setup_command:
        return None
    root = Path(tc.cache_dir) if tc.cache_dir else tool_venvs_root().parent / "toolchains"
    root.mkdir(parents=True, exist_ok=True)
    target = (root / toolchain_key(repo, base, config)).resolve()
    with exclusive(root / ".build.lock"):
        if (target / _COMPLETE).is_file():
            return target
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        argv = ["/bin/sh", "-c", tc.setup_command]
        env = {
            "PATH": f"{target}/bin:{SANDBOX_PATH}",
            "HOME": str(SANDBOX_HOME if not sandbox.unsandboxed else scratch),
            "TMPDIR": str(SANDBOX_TMP if not sandbox.unsandboxed else scratch),
            "LANG": "C.UTF-8",
            "NIGHTSHIFT_TOOLCHAIN": str(target),
        }
        mounts = [Mount(target, writable=True)]
        proxy: EgressProxy | None = None
        if tc.allowed_hosts and not sandbox.unsandboxed:
            proxy = EgressProxy(EgressPolicy(tuple(tc.allowed_hosts)))
            proxy.start()
            wiring = sandbox_egress(proxy.socket_path)
            argv, mounts = [*wiring.argv_prefix, *argv], [*mounts, *wiring.mounts]
            env.update(wiring.env)
        try:
            outcome = sandbox.run(
                SandboxSpec(
                    argv=argv,
                    cwd=workspace,
                    env=env,
                    limits=ProcessLimits(timeout_seconds=config.timeouts.toolchain_setup, memory_mb=0),
                    workspace=workspace,
                    scratch_dir=scratch / "toolchain-sandbox",
                    mounts=mounts,
                )
            )
        finally:
            if proxy is not None:
                proxy.stop()
        if outcome.timed_out or outcome.exit_code != 0:
            shutil.rmtree(target, ignore_errors=True)
            why = "timed out" if outcome.timed_out else f"exited with {outcome.exit_code}"
            tail = outcome.stderr.decode(errors="replace")[-400:].strip()
            raise ToolchainError(f"the toolchain setup command {why}: {tail}")
        (target / _COMPLETE).write_text(tc.setup_command + "\n")
    return target
