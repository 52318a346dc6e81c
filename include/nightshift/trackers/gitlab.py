"""GitLab issues behind the `Tracker` interface: intake reads them, the pipeline comments and labels them.

Keys are GitLab's full references (`group/app#12`). A query is a label name (or several, comma-separated,
all required). Writes are idempotent: comments and follow-ups carry a hidden marker and are looked up
before posting, and writes only go to the configured projects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import gitlab
from gitlab.exceptions import GitlabCreateError
from pydantic import BaseModel

from nightshift.forge.clients import GitLabAccount
from nightshift.forge.idempotency import NO_BLIND_RETRY, create_once, upsert_marked_note, with_marker
from nightshift.models import GITLAB_IID, GITLAB_PATH
from nightshift.trackers.base import IssueLink, TrackerConfigError, TrackerError, TrackerIssue, hidden_marker

_KEY_RE = re.compile(rf"\A(?P<project>{GITLAB_PATH})#(?P<iid>{GITLAB_IID})\Z")
_LINK_KINDS = {"relates_to", "blocks", "is_blocked_by"}


def parse_issue_key(key: str) -> tuple[str, int]:
    """`group/app#12` -> ("group/app", 12)."""
    match = _KEY_RE.match(key)
    if match is None or ".." in key:
        raise TrackerError(f"{key!r} is not a GitLab issue reference such as group/app#12")
    return match["project"], int(match["iid"])


def priority_from_labels(labels: Sequence[str]) -> str | None:
    """GitLab has no priority field; a scoped label `priority::high` carries it."""
    for label in labels:
        scope, sep, value = label.partition("::")
        if sep and scope.strip().lower() == "priority" and value.strip():
            return value.strip().lower()
    return None


class _FollowUp(BaseModel):
    key: str
    project_id: int
    iid: int
    linked: bool


class GitLabIssueTracker:
    """The `Tracker` for GitLab issues of the configured projects."""

    name = "gitlab"

    def __init__(
        self, gl: gitlab.Gitlab, projects: Sequence[str], *, connection_id: str | None = None
    ) -> None:
        if not projects:
            raise TrackerConfigError("GitLabIssueTracker needs at least one project path")
        self._account = GitLabAccount(gl, connection_id)
        self.projects = list(projects)

    # --- reading -----------------------------------------------------------------------------------
    def search(self, query: str) -> Iterator[TrackerIssue]:
        """Every open issue carrying the label(s) `query`, across the projects, paging through every page."""
        labels = [name.strip() for name in query.split(",") if name.strip()]
        if not labels:
            raise TrackerConfigError("a GitLab issue search needs a label, e.g. ready-for-agent")
        for path in self.projects:
            with self._errors(f"searching issues labelled {query!r}", path):
                issues = self._project(path).issues.list(
                    labels=labels,
                    state="opened",
                    order_by="created_at",
                    sort="asc",
                    per_page=100,
                    iterator=True,
                )
                for issue in issues:
                    yield self._to_tracker_issue(path, issue, self._links(issue))

    def get(self, key: str) -> TrackerIssue:
        path, iid = parse_issue_key(key)
        with self._errors(f"reading {key}", path):
            issue = self._project(path).issues.get(iid)
            comments = [
                note.body
                for note in issue.notes.list(iterator=True, per_page=100, sort="asc")
                if not note.attributes.get("system")
            ]
            return self._to_tracker_issue(path, issue, self._links(issue), comments)

    def is_done(self, key: str) -> bool:
        path, iid = parse_issue_key(key)
        with self._errors(f"reading the state of {key}", path):
            return self._project(path).issues.get(iid).state == "closed"

    # --- writing -----------------------------------------------------------------------------------
    def comment_once(self, key: str, marker: str, body: str) -> str:
        path, iid = self._writable(key)
        with self._errors(f"commenting ({marker}) on {key}", path):
            notes = self._project(path).issues.get(iid, lazy=True).notes
            return str(upsert_marked_note(notes, marker, body, author_id=self._account.user_id()))

    def ensure_labels(self, key: str, add: list[str], remove: list[str] | None = None) -> None:
        path, iid = self._writable(key)
        remove = remove or []
        if any("," in name or not name.strip() for name in [*add, *remove]):
            raise TrackerConfigError(f"GitLab label names cannot be empty or contain ',': {add + remove}")
        if not add and not remove:
            return
        with self._errors(f"updating the labels of {key}", path):
            self._project(path).issues.update(
                iid, {"add_labels": ",".join(add), "remove_labels": ",".join(remove)}
            )

    def create_followup_once(
        self, original_key: str, marker: str, title: str, body: str, labels: Sequence[str] = ()
    ) -> str:
        """A follow-up issue in the original's project, linked `relates_to` it, created once per marker."""
        path, iid = self._writable(original_key)
        tag = hidden_marker(marker)
        with self._errors(f"creating the follow-up ({marker}) of {original_key}", path):
            project = self._project(path)
            original = project.issues.get(iid, lazy=True)
            me = self._account.user_id()

            def find() -> _FollowUp | None:
                for linked in original.links.list(get_all=True):
                    if tag in (linked.attributes.get("description") or "") and _author(linked) == me:
                        return _FollowUp(
                            key=linked.references["full"],
                            project_id=linked.project_id,
                            iid=linked.iid,
                            linked=True,
                        )
                candidates = project.issues.list(
                    search=marker,
                    state="all",
                    author_id=me,
                    iterator=True,
                    per_page=100,
                    **{"in": "description"},
                )
                for issue in candidates:
                    if tag in (issue.description or ""):
                        return _FollowUp(
                            key=issue.references["full"],
                            project_id=issue.project_id,
                            iid=issue.iid,
                            linked=False,
                        )
                return None

            def create() -> _FollowUp:
                issue = project.issues.create(
                    {
                        "title": " ".join(title.split())[:255] or "Follow-up",
                        "description": with_marker(body, marker),
                        "labels": list(labels),
                    },
                    **NO_BLIND_RETRY,
                )
                return _FollowUp(
                    key=issue.references["full"], project_id=issue.project_id, iid=issue.iid, linked=False
                )

            followup = create_once(find, create)
            if not followup.linked:
                try:
                    original.links.create(
                        {
                            "target_project_id": followup.project_id,
                            "target_issue_iid": followup.iid,
                            "link_type": "relates_to",
                        }
                    )
                except GitlabCreateError as exc:
                    if exc.response_code != 409:  # 409: already linked (e.g. a re-sent POST)
                        raise
            return followup.key

    # --- internals ---------------------------------------------------------------------------------
    def _project(self, path: str) -> Any:
        return self._account.gl.projects.get(path, lazy=True)

    def _writable(self, key: str) -> tuple[str, int]:
        path, iid = parse_issue_key(key)
        if path not in self.projects:
            raise TrackerConfigError(
                f"{key}: project {path} is not one of this tracker's projects {self.projects}"
            )
        return path, iid

    def _links(self, issue: Any) -> list[IssueLink]:
        links = []
        for linked in issue.links.list(get_all=True):
            kind = linked.attributes.get("link_type")
            if kind in _LINK_KINDS:
                links.append(
                    IssueLink(kind=kind, key=linked.references["full"], done=linked.state == "closed")
                )
        return links

    def _to_tracker_issue(
        self, path: str, issue: Any, links: list[IssueLink], comments: Sequence[str] = ()
    ) -> TrackerIssue:
        labels = list(issue.labels)
        return TrackerIssue(
            tracker="gitlab",
            key=issue.references["full"],
            project=path,
            title=issue.title,
            description=issue.description or "",
            description_format="markdown",
            url=issue.web_url,
            labels=labels,
            priority=priority_from_labels(labels),
            status=issue.state,
            done=issue.state == "closed",
            links=links,
            comments=list(comments),
        )

    def _errors(self, action: str, path: str) -> AbstractContextManager[None]:
        return self._account.errors(f"{action} in {path}")


def _author(obj: Any) -> int | None:
    return (obj.attributes.get("author") or {}).get("id")
