"""Merge requests on GitLab, in the pipeline's terms: one draft MR per source branch, one note per marker.

Every write is safe to repeat (Airflow runs tasks at least once): the MR is found by source branch before
it is created and a 409 (`TrackerConflict`) means "it exists, fetch it"; notes go through the shared marker
upsert.
Agents never approve, merge or mark an MR ready, so nothing here does either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

import gitlab
from pydantic import BaseModel, ConfigDict, Field

from nightshift.trackers.clients.gitlab import GitLabAccount
from nightshift.trackers.errors import TrackerConflict
from nightshift.trackers.gitlab import upsert_marked_note
from nightshift.trackers.writes import unless_exists

#: GitLab's own draft detection (a `[Draft]`, `(Draft)` or `Draft:` prefix, any case).
_DRAFT_RE = re.compile(r"\A\s*(\[draft\]|\(draft\)|draft:)\s*", re.IGNORECASE)
_MAX_TITLE = 255  # GitLab rejects longer titles; ticket titles are attacker-controlled
DEFAULT_LABEL_COLOR = "#6699cc"


class MergeRequestRef(BaseModel):
    """What the pipeline records about an MR (XCom-sized)."""

    model_config = ConfigDict(extra="ignore")

    iid: int
    web_url: str
    title: str = ""
    draft: bool
    source_branch: str
    target_branch: str
    state: str
    sha: str | None = None
    labels: list[str] = Field(default_factory=list)


class Approval(BaseModel):
    username: str
    approved_at: str | None = None


class MergeRequestReview(BaseModel):
    """Review facts for metrics: who approved and when it merged."""

    iid: int
    state: str
    draft: bool
    created_at: str
    merged_at: str | None = None
    approved: bool = False
    approvals: list[Approval] = Field(default_factory=list)


def draft_title(title: str) -> str:
    """`title` with exactly one draft prefix, within GitLab's length limit."""
    clean = " ".join(title.split()) or "Untitled"
    if _DRAFT_RE.match(clean) is None:
        clean = f"Draft: {clean}"
    return clean[:_MAX_TITLE]


def _as_stored(description: str | None) -> str:
    """A description as GitLab keeps it: without carriage returns and trailing whitespace."""
    return (description or "").replace("\r", "").rstrip()


class MergeRequestForge:
    """The MR operations of one GitLab project, over a configured `gitlab.Gitlab` client."""

    def __init__(
        self,
        gl: gitlab.Gitlab,
        project_path: str,
        *,
        connection_id: str | None = None,
        label_color: str = DEFAULT_LABEL_COLOR,
    ) -> None:
        self._account = GitLabAccount(gl, connection_id)
        self.project_path = project_path
        self.label_color = label_color
        self._project = gl.projects.get(project_path, lazy=True)

    # --- merge requests ----------------------------------------------------------------------------
    def find_open_mr(self, source_branch: str) -> MergeRequestRef | None:
        with self._errors(f"finding the open MR of {source_branch}"):
            found = self._find_open(source_branch)
        return None if found is None else MergeRequestRef.model_validate(found)

    def get_mr(self, mr_iid: int) -> MergeRequestRef:
        with self._errors(f"reading !{mr_iid}"):
            return MergeRequestRef.model_validate(self._project.mergerequests.get(mr_iid).attributes)

    def upsert_draft_mr(
        self, source_branch: str, target_branch: str, title: str, description: str, labels: Sequence[str] = ()
    ) -> MergeRequestRef:
        """The one open draft MR for `source_branch`: created, or brought up to date in place."""
        wanted_title = draft_title(title)
        with self._errors(f"upserting the draft MR of {source_branch}"):
            current = self._find_open(source_branch)
            if current is None:
                try:
                    with self._errors(f"creating the draft MR of {source_branch}"):
                        created = self._project.mergerequests.create(
                            {
                                "source_branch": source_branch,
                                "target_branch": target_branch,
                                "title": wanted_title,
                                "description": description,
                                "labels": list(labels),
                                "remove_source_branch": True,
                            }
                        )
                    return MergeRequestRef.model_validate(created.attributes)
                except TrackerConflict:
                    # Another run (or python-gitlab re-sending after a lost response) created it.
                    current = self._find_open(source_branch)
                    if current is None:
                        raise
            # Send only what differs: every description GitLab receives is scanned for quick actions
            # again, so an unchanged one is never re-sent (compared as GitLab stores it).
            changes: dict[str, Any] = {}
            if current["title"] != wanted_title:
                changes["title"] = wanted_title
            if _as_stored(current.get("description")) != _as_stored(description):
                changes["description"] = description
            if current["target_branch"] != target_branch:
                changes["target_branch"] = target_branch
            missing = [name for name in labels if name not in current.get("labels", [])]
            if missing:
                changes["add_labels"] = ",".join(missing)
            if changes:
                current = self._project.mergerequests.update(current["iid"], changes)
            return MergeRequestRef.model_validate(current)

    def _find_open(self, source_branch: str) -> dict[str, Any] | None:
        found = self._project.mergerequests.list(source_branch=source_branch, state="opened", get_all=True)
        return dict(found[0].attributes) if found else None

    # --- notes and labels --------------------------------------------------------------------------
    def upsert_note(self, mr_iid: int, marker_key: str, body: str) -> int:
        """One note per (MR, marker_key), found again by its hidden marker and edited in place."""
        with self._errors(f"reading the account that writes the {marker_key!r} note on !{mr_iid}"):
            me = self._account.user_id()
        notes = self._project.mergerequests.get(mr_iid, lazy=True).notes

        def guard(action: str) -> AbstractContextManager[None]:
            return self._errors(f"{action} on !{mr_iid}")

        return upsert_marked_note(notes, marker_key, body, guard=guard, author_id=me)

    def ensure_labels(self, names: Sequence[str]) -> None:
        """Create the project labels that are missing (a concurrent creation's 409 counts as done)."""
        with self._errors("ensuring labels " + ", ".join(names)):
            existing = {label.name for label in self._project.labels.list(get_all=True)}
            for name in names:
                if name in existing:
                    continue
                unless_exists(  # None: a concurrent run created it, which is as good
                    partial(self._project.labels.create, {"name": name, "color": self.label_color}),
                    guard=self._errors,
                    what=f"the label {name!r}",
                )

    # --- CI and review -----------------------------------------------------------------------------
    def pipeline_status(self, sha: str) -> str | None:
        """The status of the newest pipeline for `sha` (success, failed, running, ...), None if none ran."""
        with self._errors(f"reading the pipeline of {sha[:12]}"):
            pipelines = self._project.pipelines.list(
                sha=sha, order_by="id", sort="desc", per_page=1, get_all=False
            )
        return str(pipelines[0].status) if pipelines else None

    def review(self, mr_iid: int) -> MergeRequestReview:
        """Approvals and merge time of an MR, for the review metrics."""
        with self._errors(f"reading the review state of !{mr_iid}"):
            mr = self._project.mergerequests.get(mr_iid)
            approvals = mr.approvals.get()
        approved_by = [
            Approval(username=entry["user"]["username"], approved_at=entry.get("approved_at"))
            for entry in approvals.attributes.get("approved_by") or []
        ]
        return MergeRequestReview(
            iid=mr.iid,
            state=mr.state,
            draft=bool(mr.attributes.get("draft")),
            created_at=mr.created_at,
            merged_at=mr.attributes.get("merged_at"),
            approved=bool(approvals.attributes.get("approved")),
            approvals=approved_by,
        )

    # --- internals ---------------------------------------------------------------------------------
    def _errors(self, action: str) -> AbstractContextManager[None]:
        return self._account.errors(f"{action} in {self.project_path}")
