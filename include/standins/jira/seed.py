"""The Jira stand-in's seed: users, projects, custom fields, issues and links."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from standins.jira.state import (
    DEFAULT_API_TOKEN,
    DEFAULT_EMAIL,
    DEFAULT_PASSWORD,
    DEFAULT_PAT,
    DEFAULT_STATUSES,
    DEFAULT_USER,
    Category,
    Mode,
)


class SeedUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    display_name: str | None = None
    email: str | None = None
    password: str | None = None  # Server basic auth
    api_token: str | None = None  # Cloud basic auth with the e-mail
    pats: list[str] = Field(default_factory=list)  # Server bearer personal access tokens


class SeedProject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,19}$")
    name: str | None = None
    components: list[str] = Field(default_factory=list)


class SeedCustomField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^customfield_[0-9]{5}$")
    name: str
    type: Literal["number", "string", "option", "labels"]
    options: list[str] = Field(default_factory=list)


class SeedComment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str | dict[str, Any]
    author: str | None = None


class SeedIssue(BaseModel):
    """One issue. `description`/comment bodies: wiki text on Server; ADF dicts (or plain text, wrapped
    into ADF paragraphs) on Cloud. `custom` maps a custom field's name or id to its value."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{0,19}-[0-9]{1,9}$")
    project: str | None = None
    summary: str
    description: str | dict[str, Any] | None = None
    labels: list[str] = Field(default_factory=list)
    priority: str | None = "Medium"
    status: str = "To Do"
    issuetype: str = "Story"
    components: list[str] = Field(default_factory=list)
    custom: dict[str, Any] = Field(default_factory=dict)
    comments: list[str | dict[str, Any] | SeedComment] = Field(default_factory=list)
    reporter: str | None = None
    created: dt.datetime | None = None


class SeedLink(BaseModel):
    """`source` <outward phrase> `target`: {"type": "Blocks", "source": "PROJ-1", "target": "PROJ-2"}
    means PROJ-1 blocks PROJ-2 (what POST /issueLink makes from inwardIssue=PROJ-1, outwardIssue=PROJ-2)."""

    model_config = ConfigDict(extra="forbid")

    type: str = "Blocks"
    source: str
    target: str


class JiraSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    projects: list[SeedProject] = Field(default_factory=lambda: [SeedProject(key="PROJ", name="Project")])
    users: list[SeedUser] = Field(default_factory=lambda: [default_user()])
    custom_fields: list[SeedCustomField] = Field(
        default_factory=lambda: [
            SeedCustomField(id="customfield_10016", name="Story Points", type="number"),
            SeedCustomField(
                id="customfield_10050", name="Complexity", type="option", options=["Small", "Medium", "Large"]
            ),
        ]
    )
    statuses: dict[str, Category] = Field(default_factory=lambda: dict(DEFAULT_STATUSES))
    issues: list[SeedIssue] = Field(default_factory=list)
    links: list[SeedLink] = Field(default_factory=list)
    max_results: int = Field(default=100, ge=1, le=5000)


def default_user() -> SeedUser:
    return SeedUser(
        name=DEFAULT_USER,
        display_name="Nightshift Bot",
        email=DEFAULT_EMAIL,
        password=DEFAULT_PASSWORD,
        api_token=DEFAULT_API_TOKEN,
        pats=[DEFAULT_PAT],
    )


READINESS_WIKI = """h2. Agent Readiness
* [x] Acceptance criteria clear
* [x] No open questions
* [x] Dependencies: None
* [x] Estimated files: src/feature.py, tests/
* [x] Complexity: Small

h2. Acceptance criteria
* The feature works
* It is tested"""


def readiness_adf() -> dict[str, Any]:
    """The spec's readiness checklist and acceptance criteria as Jira Cloud stores them (ADF)."""

    def text(value: str) -> dict[str, Any]:
        return {"type": "text", "text": value}

    items = [
        "Acceptance criteria clear",
        "No open questions",
        "Dependencies: None",
        "Estimated files: src/feature.py, tests/",
        "Complexity: Small",
    ]
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [text("Agent Readiness")]},
            {
                "type": "taskList",
                "attrs": {"localId": "readiness"},
                "content": [
                    {
                        "type": "taskItem",
                        "attrs": {"localId": f"r{i}", "state": "DONE"},
                        "content": [text(item)],
                    }
                    for i, item in enumerate(items)
                ],
            },
            {"type": "heading", "attrs": {"level": 2}, "content": [text("Acceptance criteria")]},
            {
                "type": "bulletList",
                "content": [
                    {"type": "listItem", "content": [{"type": "paragraph", "content": [text(item)]}]}
                    for item in ("The feature works", "It is tested")
                ],
            },
        ],
    }


def default_seed(mode: Mode = "server") -> dict[str, Any]:
    """A small demo site: one project, the Nightshift user, three issues, one of them blocked."""
    description: Any = READINESS_WIKI if mode == "server" else readiness_adf()
    return {
        "projects": [{"key": "PROJ", "name": "Project", "components": ["backend", "frontend"]}],
        "issues": [
            {
                "key": "PROJ-1",
                "summary": "Add login endpoint",
                "description": description,
                "labels": ["ready-for-agent"],
                "priority": "High",
                "custom": {"Complexity": "Small", "Story Points": 3},
            },
            {
                "key": "PROJ-2",
                "summary": "Add logout endpoint",
                "description": description,
                "labels": ["ready-for-agent"],
                "priority": "Medium",
            },
            {"key": "PROJ-3", "summary": "Session cleanup", "status": "Done", "priority": "Low"},
        ],
        "links": [{"type": "Blocks", "source": "PROJ-3", "target": "PROJ-2"}],
    }
