"""The GitLab stand-in's seed: users, tokens and projects (with their repositories, labels and issues)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from standins.git_http import PROJECT_PATH_RE
from standins.gitlab.state import DEFAULT_LABEL_COLOR, LinkType, Scope


class SeedUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str = ""


class SeedToken(BaseModel):
    """A personal access token; `read_api` without `api` makes a read-only token (403 on writes)."""

    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=8)
    user: str
    scopes: list[Scope] = Field(default_factory=lambda: list[Scope](["api"]))


class SeedLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    color: str = DEFAULT_LABEL_COLOR
    description: str | None = None


class SeedIssue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    description: str = ""
    labels: list[str] = Field(default_factory=list)
    state: Literal["opened", "closed"] = "opened"
    author: str | None = None  # username; the first user by default


class SeedIssueLink(BaseModel):
    """`source_iid` links to `target_iid` (in `target_project`, default the same project)."""

    model_config = ConfigDict(extra="forbid")
    source_iid: int
    target_iid: int
    target_project: str | None = None
    link_type: LinkType = "relates_to"


class SeedRepository(BaseModel):
    """The initial commit on the default branch: a directory to copy and/or files to write."""

    model_config = ConfigDict(extra="forbid")
    seed_dir: Path | None = None
    files: dict[str, str] = Field(default_factory=dict)


class SeedProject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path_with_namespace: str
    description: str = ""
    default_branch: str = "main"
    repository: SeedRepository = Field(
        default_factory=lambda: SeedRepository(files={"README.md": "# Stand-in project\n"})
    )
    labels: list[SeedLabel] = Field(default_factory=list)
    issues: list[SeedIssue] = Field(default_factory=list)
    issue_links: list[SeedIssueLink] = Field(default_factory=list)

    @field_validator("path_with_namespace")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        if not PROJECT_PATH_RE.match(value) or ".." in value:
            raise ValueError(f"{value!r} is not a project path such as group/app")
        return value


class GitLabSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: list[SeedUser] = Field(default_factory=list)
    tokens: list[SeedToken] = Field(default_factory=list)
    projects: list[SeedProject] = Field(default_factory=list)


def default_seed() -> dict[str, Any]:
    """One project `group/app` with a small repository, a bot with an `api` token and a read-only reviewer."""
    return {
        "users": [
            {"username": "nightshift-bot", "name": "Nightshift Bot"},
            {"username": "reviewer", "name": "Rita Reviewer"},
        ],
        "tokens": [
            {"token": f"glpat-standin-{secrets.token_hex(10)}", "user": "nightshift-bot", "scopes": ["api"]},
            {
                "token": f"glpat-readonly-{secrets.token_hex(10)}",
                "user": "reviewer",
                "scopes": ["read_api", "read_repository"],
            },
        ],
        "projects": [
            {
                "path_with_namespace": "group/app",
                "description": "Stand-in application repository",
                "repository": {
                    "files": {
                        "README.md": "# app\n\nA stand-in repository for Nightshift.\n",
                        "src/app.py": "def greet(name: str) -> str:\n    return f'Hello, {name}!'\n",
                        "tests/test_app.py": "from src.app import greet\n\n\ndef test_greet():\n"
                        "    assert greet('x') == 'Hello, x!'\n",
                    }
                },
                "labels": [{"name": "ready-for-agent", "color": "#2da160"}],
            }
        ],
    }
