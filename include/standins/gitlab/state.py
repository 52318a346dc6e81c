"""The GitLab stand-in's in-memory state: one plain record per GitLab object."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from standins.http import HttpError

Scope = Literal["api", "read_api", "read_repository", "write_repository"]


LinkType = Literal["relates_to", "blocks", "is_blocked_by"]


PIPELINE_STATUSES = frozenset(
    {
        "created",
        "waiting_for_resource",
        "preparing",
        "pending",
        "running",
        "success",
        "failed",
        "canceled",
        "skipped",
        "manual",
        "scheduled",
    }
)


INVERSE_LINK = {"relates_to": "relates_to", "blocks": "is_blocked_by", "is_blocked_by": "blocks"}


#: GitLab's draft detection: a `[Draft]`, `(Draft)` or `Draft:` prefix, any case.
DRAFT_RE = re.compile(r"\A\s*(\[draft\]|\(draft\)|draft:)\s*", re.IGNORECASE)


DEFAULT_LABEL_COLOR = "#6699cc"


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class User:
    id: int
    username: str
    name: str


@dataclass
class Grant:
    user: User
    scopes: list[str]

    @property
    def api_write(self) -> bool:
        return "api" in self.scopes

    @property
    def repo_write(self) -> bool:
        return "api" in self.scopes or "write_repository" in self.scopes


@dataclass
class Label:
    id: int
    name: str
    color: str
    description: str | None


@dataclass
class Note:
    id: int
    body: str
    author: User
    created_at: str
    updated_at: str
    noteable_type: str
    noteable_id: int
    noteable_iid: int
    project_id: int


@dataclass
class Issue:
    id: int
    iid: int
    project_id: int
    title: str
    description: str
    labels: list[str]
    author: User
    state: str = "opened"
    created_at: str = field(default_factory=now_text)
    updated_at: str = field(default_factory=now_text)
    closed_at: str | None = None
    closed_by: User | None = None
    notes: list[Note] = field(default_factory=list)


@dataclass
class MergeRequest:
    id: int
    iid: int
    project_id: int
    title: str
    description: str
    source_branch: str
    target_branch: str
    labels: list[str]
    author: User
    state: str = "opened"
    created_at: str = field(default_factory=now_text)
    updated_at: str = field(default_factory=now_text)
    merged_at: str | None = None
    merged_by: User | None = None
    merge_commit_sha: str | None = None
    closed_at: str | None = None
    closed_by: User | None = None
    frozen_sha: str | None = None  # the head when merged or closed; open MRs follow the branch
    notes: list[Note] = field(default_factory=list)
    approvals: list[tuple[User, str]] = field(default_factory=list)

    @property
    def draft(self) -> bool:
        return DRAFT_RE.match(self.title) is not None


@dataclass
class Pipeline:
    id: int
    iid: int
    project_id: int
    sha: str
    ref: str
    status: str
    user: User
    created_at: str = field(default_factory=now_text)
    updated_at: str = field(default_factory=now_text)
    started_at: str | None = None
    finished_at: str | None = None
    source: str = "push"  # "external": created by a commit status on a sha with no pipeline


@dataclass
class CommitStatus:
    """An external commit status (a "generic commit status" job): what `POST statuses/:sha` records."""

    id: int
    project_id: int
    sha: str
    ref: str
    name: str
    status: str
    author: User
    pipeline_id: int
    target_url: str | None = None
    description: str | None = None
    created_at: str = field(default_factory=now_text)
    started_at: str | None = None
    finished_at: str | None = None


@dataclass
class IssueLink:
    id: int
    source: Issue
    target: Issue
    link_type: str
    created_at: str = field(default_factory=now_text)


@dataclass
class Project:
    id: int
    path: str
    description: str
    default_branch: str
    namespace_id: int
    created_at: str = field(default_factory=now_text)
    labels: dict[str, Label] = field(default_factory=dict)
    merge_requests: dict[int, MergeRequest] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    pipelines: list[Pipeline] = field(default_factory=list)
    commit_statuses: list[CommitStatus] = field(default_factory=list)
    #: Scripted pipeline statuses still to come, by pipeline id (see GitLabStandin.script_pipeline).
    pipeline_scripts: dict[int, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    @property
    def namespace(self) -> str:
        return self.path.rsplit("/", 1)[0]


def as_list(value: Any) -> list[str]:
    """GitLab accepts label lists as JSON arrays or comma-separated strings."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def merge_labels(current: list[str], add: list[str], remove: list[str]) -> list[str]:
    merged = [name for name in current if name not in remove]
    merged += [name for name in add if name not in merged and name not in remove]
    return merged


def int_arg(value: str, name: str) -> int:
    if not value.isdigit():
        raise HttpError(400, {"error": f"{name} is invalid"})
    return int(value)


def parse_time(timestamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


@dataclass
class QuickAction:
    """One executed quick action, as the stand-in journals it (`GitLabStandin.quick_actions`)."""

    where: str  # e.g. "MergeRequest group/app!1 description", "Issue group/app#2 note"
    name: str
    arg: str
    user: str
    applied: bool  # False: recognised (GitLab would run it) but not modelled by the stand-in
