"""Start and stop the stand-in servers: one call for scripts, one context manager for tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from standins.gitlab import GitLabSeed, GitLabStandin, default_seed

__all__ = ["default_seed", "running_gitlab", "start_gitlab"]


def start_gitlab(
    seed: dict[str, Any] | GitLabSeed | None = None, state_dir: Path | None = None, port: int = 0
) -> GitLabStandin:
    """A running GitLab stand-in on 127.0.0.1 (a free port unless `port` is given); call `stop()` after.

    Without `seed` it holds `group/app` (see `default_seed`); repositories live under `state_dir`
    (a temporary directory, removed on stop, when not given).
    """
    server = GitLabStandin(seed, state_dir)
    server.start(port)
    return server


@contextmanager
def running_gitlab(
    seed: dict[str, Any] | GitLabSeed | None = None, state_dir: Path | None = None
) -> Iterator[GitLabStandin]:
    server = start_gitlab(seed, state_dir)
    try:
        yield server
    finally:
        server.stop()
