"""A gate report on GitLab: one score note per MR per batch, the score labels, and a commit status.

Every write is safe to repeat (Airflow runs the gates task at least once, and operators clear it):
- the note carries a hidden marker and goes through the shared marker upsert, so a re-run edits it;
- `nightshift-score::<band>` replaces any other score label (scoped labels are one-per-scope only on
  GitLab Premium, so the previous one is removed explicitly), `nightshift::security` comes and goes
  with the security flags;
- the commit status `nightshift/gates` on the MR head is posted only when the latest one differs:
  GitLab keeps a finished status and starts a new one on every POST, which would pile up jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import gitlab
from pydantic import BaseModel, ConfigDict, Field

from nightshift.forge.merge_requests import MergeRequestForge
from nightshift.gates.report import GateReport
from nightshift.publish.guard import code, inline
from nightshift.trackers.clients.gitlab import NO_BLIND_RETRY, GitLabAccount
from nightshift.trackers.writes import create_once

STATUS_NAME = "nightshift/gates"
SCORE_LABEL_SCOPE = "nightshift-score::"
SECURITY_LABEL = "nightshift::security"
LABEL_COLORS = {
    f"{SCORE_LABEL_SCOPE}high": "#2da160",
    f"{SCORE_LABEL_SCOPE}medium": "#e9be74",
    f"{SCORE_LABEL_SCOPE}low": "#dc143c",
    SECURITY_LABEL: "#8b0000",
}
_MAX_STATUS_DESCRIPTION = 255

StatusState = Literal["success", "failed"]


def defuse_quick_actions(markdown: str) -> str:
    """The last line of defence for composed markdown (the core's review summary, whose agent- and
    ticket-derived parts the core guards itself): no line of a note may start a GitLab quick action,
    so a line whose first non-space character is `/` gets the text guard's backslash (`\\/merge`)."""
    out = []
    for line in markdown.splitlines():
        lead = len(line) - len(line.lstrip())
        out.append(f"{line[:lead]}\\{line[lead:]}" if line[lead:].startswith("/") else line)
    return "\n".join(out)


class GateLinks(BaseModel):
    """Where the note points reviewers: the review page, the ticket, and Airflow task logs."""

    model_config = ConfigDict(extra="forbid")

    review_page: str | None = None
    ticket: str | None = None
    task_logs: dict[str, str] = Field(default_factory=dict)  # label -> URL (C0, C1, C2, gates)


class GatePublication(BaseModel):
    """What publishing did (XCom-sized, for the task log and tests)."""

    note_id: int
    labels: list[str]
    status_state: StatusState
    status_posted: bool


def status_state(report: GateReport, pass_score: int) -> StatusState:
    """`failed` below the pass score or with any security flag; the widget shows it next to the pipeline."""
    return "failed" if report.score < pass_score or report.security_flags else "success"


def status_description(report: GateReport) -> str:
    flags = sorted({f.kind for f in report.flags})
    text = f"score {report.score}/100 ({report.band()}), {report.checks_counted} checks counted"
    text += "; flags: " + ", ".join(flags) if flags else "; no flags"
    return text[:_MAX_STATUS_DESCRIPTION]


def wanted_labels(report: GateReport) -> tuple[list[str], list[str]]:
    """(labels to have, label names to drop from the score scope and the security label)."""
    score = f"{SCORE_LABEL_SCOPE}{report.band()}"
    have = [score] + ([SECURITY_LABEL] if report.security_flags else [])
    drop = [
        f"{SCORE_LABEL_SCOPE}{b}" for b in ("high", "medium", "low") if f"{SCORE_LABEL_SCOPE}{b}" != score
    ]
    if not report.security_flags:
        drop.append(SECURITY_LABEL)
    return have, drop


def render_note(report: GateReport, links: GateLinks, batch_id: str) -> str:
    """The score note: the gates core's review summary (verdict, breakdown, findings, links) when the
    report has one, else the same facts rendered here from the report's fields."""
    origin = f"Nightshift batch `{batch_id}`, head `{report.head[:12]}`."
    if report.summary_markdown.strip():
        return f"{defuse_quick_actions(report.summary_markdown.strip())}\n\n{origin}"
    security = len(report.security_flags)
    lines = [
        f"## Nightshift gates: score {report.score}/100 ({report.band()})"
        + (f", Security: {security} flag(s)" if security else ", Security: OK"),
        "",
        f"Batch `{batch_id}`, head `{report.head[:12]}`. The score rests on {report.checks_counted} of "
        f"{len(report.checks)} checks"
        + (f"; capped: {inline(report.capped_by)}" if report.capped_by else "")
        + ".",
        "",
        "| check | status | weight | earned | note |",
        "|---|---|---:|---:|---|",
    ]
    by_name = {c.name: c for c in report.checks}
    shown: set[str] = set()
    for line in report.breakdown:
        check = by_name.get(line.check)
        status, reason = (check.status, check.reason) if check else ("", "")
        note = _cell(line.note or reason)
        lines.append(f"| {line.check} | {status} | {line.weight:g} | {line.earned:g} | {note} |")
        shown.add(line.check)
    for check in report.checks:
        if check.name not in shown:
            lines.append(f"| {check.name} | {check.status} | - | - | {_cell(check.reason)} |")
    if report.flags:
        lines += ["", "### Flags", ""]
        lines += [
            f"- **{f.kind}**"
            + (f" {code(f.where())}" if f.where() else "")
            + (f": {_inline(f.message)}" if f.message else "")
            for f in report.flags
        ]
    link_items = [("Review page", links.review_page), ("Ticket", links.ticket), *links.task_logs.items()]
    if any(url for _, url in link_items):
        lines += ["", "### Links", ""]
        lines += [f"- [{label}]({url})" for label, url in link_items if url]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")


def _inline(text: str) -> str:
    return inline(text, limit=300)


class GateForge:
    """The gate writes on one GitLab project, beside (and reusing) the MR forge's note and label code."""

    def __init__(self, gl: gitlab.Gitlab, project_path: str, *, connection_id: str | None = None) -> None:
        self.mr_forge = MergeRequestForge(gl, project_path, connection_id=connection_id)
        self._account = GitLabAccount(gl, connection_id)
        self.project_path = project_path
        self._project = gl.projects.get(project_path, lazy=True)

    def publish(
        self,
        report: GateReport,
        *,
        mr_iid: int,
        marker_key: str,
        note: str,
        state: StatusState,
        target_url: str | None,
    ) -> GatePublication:
        note_id = self.mr_forge.upsert_note(mr_iid, marker_key, note)
        have, drop = wanted_labels(report)
        labels = self.set_labels(mr_iid, have, drop)
        posted = self.set_commit_status(
            report.head, state, target_url=target_url, description=status_description(report)
        )
        return GatePublication(note_id=note_id, labels=labels, status_state=state, status_posted=posted)

    def set_labels(self, mr_iid: int, have: Sequence[str], drop: Sequence[str]) -> list[str]:
        """Add `have`, remove `drop` in one update; nothing is sent when the MR already matches."""
        self._ensure_labels(have)
        with self._errors(f"setting the gate labels of !{mr_iid}"):
            current = list(self._project.mergerequests.get(mr_iid).labels)
            add = [name for name in have if name not in current]
            remove = [name for name in drop if name in current]
            if not add and not remove:
                return current
            changes: dict[str, Any] = {}
            if add:
                changes["add_labels"] = ",".join(add)
            if remove:
                changes["remove_labels"] = ",".join(remove)
            updated = self._project.mergerequests.update(mr_iid, changes)
            return list(updated.get("labels", []))

    def _ensure_labels(self, names: Sequence[str]) -> None:
        for name in names:  # one call per colour; ensure_labels itself skips the existing ones
            self.mr_forge.label_color = LABEL_COLORS.get(name, self.mr_forge.label_color)
            self.mr_forge.ensure_labels([name])

    def latest_status(self, sha: str) -> dict[str, Any] | None:
        """The newest `nightshift/gates` status on `sha`, if any."""
        with self._errors(f"reading the commit statuses of {sha[:12]}"):
            found = self._project.commits.get(sha, lazy=True).statuses.list(name=STATUS_NAME, get_all=True)
        ours = sorted((dict(s.attributes) for s in found), key=lambda s: int(s["id"]))
        return ours[-1] if ours else None

    def set_commit_status(
        self, sha: str, state: StatusState, *, target_url: str | None, description: str
    ) -> bool:
        """Post the status unless the latest one already says the same. True if one was posted."""

        def same() -> dict[str, Any] | None:
            latest = self.latest_status(sha)
            if latest is None:
                return None
            wanted = (state, target_url, description)
            return (
                latest
                if (latest["status"], latest.get("target_url"), latest.get("description")) == wanted
                else None
            )

        posted = False

        def post() -> dict[str, Any]:
            nonlocal posted
            data: dict[str, Any] = {"state": state, "name": STATUS_NAME, "description": description}
            if target_url:
                data["target_url"] = target_url
            created = self._project.commits.get(sha, lazy=True).statuses.create(data, **NO_BLIND_RETRY)
            posted = True
            return dict(created.attributes)

        create_once(same, post, guard=self._errors, what=f"the {STATUS_NAME} status of {sha[:12]}")
        return posted

    def pipeline_statuses(self, mr_iid: int) -> list[dict[str, Any]]:
        """The MR's CI pipelines, newest first, without the `external` ones commit statuses create
        (our own `nightshift/gates` status would otherwise count as the MR's pipeline on a re-run)."""
        with self._errors(f"listing the pipelines of !{mr_iid}"):
            found = self._project.mergerequests.get(mr_iid, lazy=True).pipelines.list(get_all=True)
        pipelines = [dict(p.attributes) for p in found]
        return sorted((p for p in pipelines if p.get("source") != "external"), key=lambda p: -int(p["id"]))

    def _errors(self, action: str) -> Any:
        return self._account.errors(f"{action} in {self.project_path}")
