"""GitLab issues behind the `Tracker` interface: intake reads them, the pipeline comments and labels them.

Keys are GitLab's full references (`group/app#12`; ticket ids <-> references: `trackers.keys.GitLabKeys`).
A query is a label name (or several, comma-separated, all required). Writes are idempotent: comments and
follow-ups carry a hidden marker and go through `trackers.writes`, and writes only go to the configured
projects. `upsert_marked_note` is the python-gitlab side of the marker upsert, for issue comments here and
MR notes in `nightshift.forge` (GitLab happily stores a second note, unlike a second MR for one branch).

GitLab's issue list carries no links, so a search costs one links request per issue: those run in a small
thread pool (`link_workers`), a page's worth in flight ahead of the caller, results in the issues' order.
python-gitlab keeps no per-request state on the client (each call builds its own headers, params and
`Retry`), and the requests Session's connection pool is sized for the workers (`make_gitlab_client`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import gitlab
from pydantic import BaseModel

from nightshift.trackers.base import (
    IssueLink,
    TrackerConfigError,
    TrackerError,
    TrackerIssue,
    hidden_marker,
    own_marked,
)
from nightshift.trackers.clients.gitlab import NO_BLIND_RETRY, GitLabAccount
from nightshift.trackers.keys import parse_gitlab_reference
from nightshift.trackers.writes import Guard, create_once, unless_exists, upsert_marked

_LINK_KINDS = {"relates_to", "blocks", "is_blocked_by"}
_PAGE = 100  # issues per list request, and links requests queued ahead of the caller
#: Links requests in flight at once during a search (at most `clients.gitlab.POOL_SIZE` reuse connections).
LINK_WORKERS = 8

__all__ = [
    "LINK_WORKERS",
    "GitLabIssueTracker",
    "parse_issue_key",
    "priority_from_labels",
    "upsert_marked_note",
    "with_marker",
]


def parse_issue_key(key: str) -> tuple[str, int]:
    """`group/app#12` -> ("group/app", 12); the reference rule is `trackers.keys`'."""
    try:
        return parse_gitlab_reference(key)
    except ValueError as exc:
        raise TrackerError(str(exc)) from None


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
        self,
        gl: gitlab.Gitlab,
        projects: Sequence[str],
        *,
        connection_id: str | None = None,
        link_workers: int = LINK_WORKERS,
    ) -> None:
        if not projects:
            raise TrackerConfigError("GitLabIssueTracker needs at least one project path")
        if not 1 <= link_workers <= 64:
            raise TrackerConfigError(f"GitLabIssueTracker link_workers must be 1..64, not {link_workers}")
        self._account = GitLabAccount(gl, connection_id)
        self.projects = list(projects)
        self.link_workers = link_workers

    # --- reading -----------------------------------------------------------------------------------
    def search(self, query: str) -> Iterator[TrackerIssue]:
        """Every open issue carrying the label(s) `query`, across the projects, paging through every page."""
        labels = [name.strip() for name in query.split(",") if name.strip()]
        if not labels:
            raise TrackerConfigError("a GitLab issue search needs a label, e.g. ready-for-agent")
        pool = ThreadPoolExecutor(max_workers=self.link_workers, thread_name_prefix="gitlab-links")
        try:
            for path in self.projects:
                with self._errors(f"searching issues labelled {query!r}", path):
                    issues = self._project(path).issues.list(
                        labels=labels,
                        state="opened",
                        order_by="created_at",
                        sort="asc",
                        per_page=_PAGE,
                        iterator=True,
                    )
                    # Up to a page of links requests queued while the caller takes the oldest, so the
                    # next list page is fetched while the workers are still busy.
                    ahead: deque[tuple[Any, Future[list[IssueLink]]]] = deque()
                    for issue in issues:
                        ahead.append((issue, pool.submit(self._links_of_listed, path, issue)))
                        if len(ahead) >= _PAGE:
                            oldest, links = ahead.popleft()
                            yield self._to_tracker_issue(path, oldest, links.result())
                    while ahead:
                        oldest, links = ahead.popleft()
                        yield self._to_tracker_issue(path, oldest, links.result())
        finally:  # an error or a caller that stops early: drop the queued requests, wait for the running
            pool.shutdown(wait=True, cancel_futures=True)

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
            me = self._account.user_id()
        guard = self._guard(f"on {key}", path)
        return str(upsert_marked_note(notes, marker, body, guard=guard, author_id=me))

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

            followup = create_once(
                find, create, guard=self._guard(f"of {original_key}", path), what=f"the follow-up ({marker})"
            )
            if not followup.linked:
                unless_exists(  # None: already linked (e.g. a re-sent POST)
                    lambda: original.links.create(
                        {
                            "target_project_id": followup.project_id,
                            "target_issue_iid": followup.iid,
                            "link_type": "relates_to",
                        }
                    ),
                    guard=self._guard(f"from {original_key} to {followup.key}", path),
                    what="the link",
                )
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

    def _links_of_listed(self, path: str, issue: Any) -> list[IssueLink]:
        """`_links` in a worker thread; a failure names the issue, in the one error hierarchy."""
        with self._errors(f"reading the links of {issue.references['full']}", path):
            return self._links(issue)

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

    def _guard(self, where: str, path: str) -> Guard:
        """The error translation handed to `trackers.writes`, naming the issue and project."""
        return lambda action: self._errors(f"{action} {where}", path)


def _author(obj: Any) -> int | None:
    return (obj.attributes.get("author") or {}).get("id")


# --- marked notes (issue comments here, MR notes in nightshift.forge) -------------------------------
def with_marker(body: str, key: str) -> str:
    """The body as posted: the visible text, then the hidden marker on its own line."""
    return f"{body.rstrip()}\n\n{hidden_marker(key)}"


class _MarkedNotes:
    """The notes of one MR or issue that carry one marker (`trackers.writes.MarkedCopies`)."""

    def __init__(self, notes: Any, key: str, body: str, author_id: int | None) -> None:
        self.notes = notes
        self.tag = hidden_marker(key)
        self.text = with_marker(body, key)
        self.author_id = author_id

    def own(self) -> Sequence[Any]:
        """Only notes written by `author_id` count: nobody can suppress or hijack ours by quoting it."""
        found = own_marked(
            self.notes.list(iterator=True, per_page=100, sort="asc", order_by="created_at"),
            marked=lambda note: self.tag in (note.body or "") and not note.attributes.get("system"),
            author=lambda note: (note.attributes.get("author") or {}).get("id"),
            me=self.author_id,
        )
        return sorted(found, key=lambda n: int(n.id))

    def post(self) -> Any:
        return self.notes.create({"body": self.text}, **NO_BLIND_RETRY)

    def delete(self, copy: Any) -> None:
        copy.delete()

    def is_current(self, copy: Any) -> bool:
        return bool(copy.body == self.text)

    def update(self, copy: Any) -> None:
        copy.body = self.text
        copy.save()


def upsert_marked_note(notes: Any, key: str, body: str, *, guard: Guard, author_id: int | None = None) -> int:
    """One note per `key` on an MR or issue (`notes` is its python-gitlab notes manager); edited in place.

    `guard` is the caller's GitLab error translation (`GitLabAccount.errors`). Returns the note id.
    """
    kept = upsert_marked(
        _MarkedNotes(notes, key, body, author_id), guard=guard, what=f"the note marked {key!r}"
    )
    return int(kept.id)
