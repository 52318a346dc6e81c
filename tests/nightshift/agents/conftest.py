"""Fixtures for the agent runner tests: a git origin, worktrees, requests and runners."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nightshift.agents.backends import build_runner
from nightshift.agents.config import AgentConfig
from nightshift.agents.contract import Checkpoint, CheckpointRequest, Limits
from nightshift.agents.runner import AgentRunner
from nightshift.agents.workspace import WorkspaceManager
from nightshift.models import Ticket
from tests.nightshift.agents.agent_helpers import CANARIES, git


@pytest.fixture(autouse=True)
def canaries(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in CANARIES.items():
        monkeypatch.setenv(key, value)
    return CANARIES


@pytest.fixture(scope="session")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small upstream repository with a main branch."""
    repo = tmp_path_factory.mktemp("origin") / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "src").mkdir()
    (repo / "src" / "utils.py").write_text("def double(x):\n    return 2 * x\n")
    (repo / "README.md").write_text("# app\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


@pytest.fixture
def workspaces(tmp_path: Path) -> WorkspaceManager:
    return WorkspaceManager(tmp_path / "ws-root", min_free_mb=1)


@pytest.fixture
def worktree(workspaces: WorkspaceManager, origin: Path) -> Path:
    return workspaces.create(str(origin), "PROJ-1", "main", batch_id="b1")


@pytest.fixture
def make_request() -> Callable[..., CheckpointRequest]:
    def make(
        workspace: Path,
        checkpoint: str = "C2",
        *,
        ticket_id: str = "PROJ-1",
        timeout: int = 60,
        batch_id: str = "b1",
        **ticket: object,
    ) -> CheckpointRequest:
        ticket.setdefault("title", "Add a helper")
        ticket.setdefault("estimated_files", ["src/utils.py"])
        return CheckpointRequest(
            batch_id=batch_id,
            ticket=Ticket(id=ticket_id, **ticket),  # type: ignore[arg-type]
            checkpoint=Checkpoint(checkpoint),
            workspace=str(workspace),
            limits=Limits(timeout_seconds=timeout),
        )

    return make


@pytest.fixture
def behaviours(tmp_path: Path) -> Path:
    path = tmp_path / "behaviours"
    path.mkdir()
    return path


@pytest.fixture
def scripted(tmp_path: Path, behaviours: Path) -> Callable[..., AgentRunner]:
    """A scripted runner whose behaviour files live in tmp_path/behaviours."""

    def make(**overrides: object) -> AgentRunner:
        scripted_cfg = {"behaviours_dir": str(behaviours), "state_dir": str(tmp_path / "state")}
        scripted_cfg.update(overrides.pop("scripted", {}))  # type: ignore[arg-type]
        overrides.setdefault("grace_seconds", 1)
        return build_runner(AgentConfig(backend="scripted", scripted=scripted_cfg, **overrides))

    return make
