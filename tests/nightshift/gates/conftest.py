"""Fixtures for the gates tests: small real git repositories, the test toolchain, and semgrep."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nightshift.gates.config import GatesConfig
from nightshift.gates.tools import install_semgrep
from tests.nightshift.gates.ranking.build import GIT_ENV
from tests.support.tools import installed_or_skip


class Repo:
    """A git repository a test writes commits into: `commit({path: text or None})` returns the sha."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.path, env=GIT_ENV, check=True, capture_output=True, text=True
        ).stdout.strip()

    def commit(self, files: dict[str, str | None], message: str = "change", *, at: str | None = None) -> str:
        if at:
            self.git("checkout", "-q", "-f", "--detach", at)
        for name, text in files.items():
            target = self.path / name
            if text is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def toolchain() -> Path:
    """The test run's own venv (it has pytest): mounted read-only into the sandbox as a prebuilt toolchain."""
    return Path(sys.prefix)


PYTEST = 'PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m pytest -q -p no:cacheprovider --junitxml="$NIGHTSHIFT_JUNIT_XML"'


@pytest.fixture
def config() -> GatesConfig:
    """Defaults, with pytest as the test command and semgrep off (its own tests turn it on)."""
    cfg = GatesConfig()
    return cfg.model_copy(
        update={
            "tests": cfg.tests.model_copy(update={"command": PYTEST, "rerun_command": PYTEST + " {tests}"}),
            "security": cfg.security.model_copy(update={"semgrep": False}),
        }
    )


@pytest.fixture(scope="session")
def semgrep_exe() -> Iterator[Path]:
    """The pinned semgrep in its tool venv, installed on first use; skips (loudly) without a registry."""
    # "No matching distribution": what this machine's pip says offline, for a pin it cannot see.
    yield installed_or_skip(install_semgrep, "semgrep", also_unreachable=("No matching distribution",))
