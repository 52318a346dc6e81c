"""Shared pieces of the trust-boundary attack tests: repositories, a real flow context, agent scripts."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from nightshift.agents.backends import build_runner
from nightshift.agents.config import AgentConfig
from nightshift.agents.workspace import WorkspaceManager
from nightshift.artifacts import ArtifactStore
from nightshift.generation.flow import GenerationContext, Repository
from nightshift.generation.state import BatchState
from nightshift.intake.records import IntakeRecord
from nightshift.manifest import parse_manifest
from nightshift.models import Ticket

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

MANIFEST = """batch_id: "2026-01-05-overnight"
created_at: "2026-01-05T18:00:00Z"
config: {max_tickets: 10, timeout_per_ticket: 30m, parallel_agents: 1}
tickets:
  - {id: "P-1", priority: high, complexity: small, estimated_files: ["src/utils.py"], dependencies: [], repository: "g/app"}
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    ).stdout.strip()


@pytest.fixture
def remote_with_submodule(tmp_path: Path) -> Path:
    """A bare remote whose main has src/utils.py and a registered submodule at vendor/lib."""
    lib = tmp_path / "lib-src"
    lib.mkdir()
    git(lib, "init", "-q", "-b", "main")
    (lib / "lib.py").write_text("X = 1\n")
    git(lib, "add", "-A")
    git(lib, "commit", "-qm", "lib")
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "src").mkdir()
    (seed / "src" / "utils.py").write_text("def double(x):\n    return 2 * x\n")
    git(seed, "submodule", "add", "-q", str(lib), "vendor/lib")
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "init")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    return bare


@pytest.fixture
def agent_script(tmp_path: Path) -> Callable[[str], Path]:
    def write(body: str) -> Path:
        path = tmp_path / "bin" / "agent.sh"
        path.parent.mkdir(exist_ok=True)
        path.write_text("#!/bin/sh\nset -u\n" + body)
        path.chmod(0o755)
        return path

    return write


@pytest.fixture
def flow_context(tmp_path: Path) -> Callable[..., GenerationContext]:
    """A GenerationContext with the real sandboxed command runner, real worktrees and a local remote."""

    def build(remote: Path, script: Path, command_vars: dict[str, str] | None = None) -> GenerationContext:
        manifest = parse_manifest(MANIFEST)
        config = AgentConfig(
            backend="command",
            command=["$agent", *[f"${k}" for k in (command_vars or {})]],
            command_vars={"agent": str(script), **(command_vars or {})},
            grace_seconds=1,
            timeout_seconds=120,
        )
        record = IntakeRecord(
            ticket=Ticket(id="P-1", title="double", source="jira", estimated_files=["src/utils.py"]),
            source="jira",
            tracker_key="P-1",
        )
        return GenerationContext(
            manifest=manifest,
            state=BatchState(ArtifactStore(f"file://{tmp_path}/artifacts").batch(manifest.batch_id)),
            runner=build_runner(config),
            workspaces=WorkspaceManager(tmp_path / "ws", min_free_mb=1),
            record=lambda ticket_id: record,
            repository=lambda entry: Repository(path="g/app", git_url=str(remote)),
        )

    return build
