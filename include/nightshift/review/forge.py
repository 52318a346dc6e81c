"""Review activity of merge requests, read from GitLab with python-gitlab (read-only).

Only human events count: approvals, notes that are neither system notes nor written by the MR's
author (Nightshift's own account opens the MR and writes the gates note), and the merge. The moment
an MR became ready is GitLab's system note "marked this merge request as **ready**".
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Protocol

import gitlab

from nightshift.review.metrics import MergeRequestActivity
from nightshift.trackers.clients.gitlab import GitLabAccount

_READY_NOTE = re.compile(
    r"marked (this merge request )?as \*\*ready\*\*|unmarked as a \*\*work in progress\*\*", re.I
)


class ActivityReader(Protocol):
    def activity(self, project_path: str, mr_iid: int) -> MergeRequestActivity: ...


def _time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _username(user: Any) -> str:
    return str(user.get("username", "")) if isinstance(user, dict) else ""


class GitLabActivityReader:
    """Reads MR state, approvals and notes over a configured `gitlab.Gitlab` client."""

    def __init__(self, gl: gitlab.Gitlab, connection_id: str | None = None) -> None:
        self._account = GitLabAccount(gl, connection_id)
        self._gl = gl

    def activity(self, project_path: str, mr_iid: int) -> MergeRequestActivity:
        with self._account.errors(f"reading the review activity of !{mr_iid} in {project_path}"):
            project = self._gl.projects.get(project_path, lazy=True)
            mr = project.mergerequests.get(mr_iid)
            approvals = mr.approvals.get().attributes.get("approved_by") or []
            notes = [n.attributes for n in mr.notes.list(get_all=True, sort="asc", order_by="created_at")]
        attrs = mr.attributes
        author = (attrs.get("author") or {}).get("id")
        human_notes = []
        ready_at = None
        for note in notes:
            when = _time(note.get("created_at"))
            if when is None:
                continue
            if note.get("system"):
                if _READY_NOTE.search(note.get("body") or "") and ready_at is None:
                    ready_at = when
                continue
            if (note.get("author") or {}).get("id") != author:
                human_notes.append((_username(note.get("author")), when))
        approved = [
            (_username(a.get("user")), when)
            for a in approvals
            if (when := _time(a.get("approved_at"))) is not None and (a.get("user") or {}).get("id") != author
        ]
        created = _time(attrs.get("created_at")) or dt.datetime.now(dt.UTC)
        return MergeRequestActivity(
            state=str(attrs.get("state")),
            web_url=attrs.get("web_url"),
            created_at=created,
            ready_at=ready_at,
            draft=bool(attrs.get("draft")),
            approvals=approved,
            notes=human_notes,
            merged_at=_time(attrs.get("merged_at")),
            merged_by=_username(attrs.get("merged_by")) or None,
        )
