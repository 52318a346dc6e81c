"""Fixtures that start a GitLab stand-in for one test and stop it afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator

import gitlab
import pytest

from standins.fixtures import running_gitlab
from standins.gitlab import GitLabStandin


@pytest.fixture
def gitlab_standin() -> Iterator[GitLabStandin]:
    with running_gitlab() as server:
        yield server


@pytest.fixture
def gl(gitlab_standin: GitLabStandin) -> gitlab.Gitlab:
    """A plain python-gitlab client (no Nightshift policy) holding the stand-in's `api` token."""
    return gitlab.Gitlab(gitlab_standin.base_url, private_token=gitlab_standin.token)


@pytest.fixture
def git_env(tmp_path) -> dict[str, str]:
    """Run git isolated from the user's configuration and credential helpers."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Agent",
        "GIT_AUTHOR_EMAIL": "agent@example.invalid",
        "GIT_COMMITTER_NAME": "Nightshift",
        "GIT_COMMITTER_EMAIL": "nightshift@example.invalid",
    }
