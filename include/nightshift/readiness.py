"""Ticket readiness: the spec's "Agent Readiness" checklist and its criteria table.

Required: clear acceptance criteria, no blocking questions, dependencies resolved.
Recommended: files identified, complexity estimated, test cases defined.

Sections, bullet items and checkboxes are read with nightshift.markdown, the grammar the Jira writers
use too: a heading inside a code fence is no section, and `- [x]` is a box exactly when it becomes a
task item in ADF.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from pydantic import BaseModel, Field

from nightshift.markdown import Item, items, parse, sections
from nightshift.models import GITLAB_IID, GITLAB_PATH, TICKET_ID, Complexity, Ticket, check_ticket_id

_TICKET_REF = re.compile(rf"\b{TICKET_ID}\b")
# GitLab issue references: `#12` (same project) or `group/app#12`.
_GITLAB_REF = re.compile(rf"(?<![\w/#])(?:{GITLAB_PATH})?#{GITLAB_IID}\b")


class ReadinessChecklist(BaseModel):
    """What the ticket's own "Agent Readiness" checklist says; None where a line is absent."""

    present: bool = False
    acceptance_criteria_clear: bool | None = None
    no_open_questions: bool | None = None
    dependencies_checked: bool | None = None
    dependencies: list[str] | None = None
    #: GitLab-style references on the dependencies line (`#12`, `group/app#12`), for intake to map to ids.
    dependency_refs: list[str] | None = None
    estimated_files: list[str] | None = None
    complexity: Complexity | None = None


class ReadinessReport(BaseModel):
    ticket: str
    missing_required: list[str] = Field(default_factory=list)
    missing_recommended: list[str] = Field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.missing_required


def find_sections(markdown: str) -> dict[str, list[str]]:
    """Map each heading (lower-cased, trailing ':' dropped) to the source lines under it."""
    return {title: list(section.lines) for title, section in sections(markdown).items()}


def bullets(lines: list[str]) -> list[str]:
    """The list items in `lines` (nested ones too), each as one line of markdown, boxes dropped."""
    return [item.text for item in _section_items("\n".join(lines))]


def _section_items(markdown: str) -> list[Item]:
    return items(parse(markdown))


def section_items(markdown: str, *titles: str) -> list[str]:
    """Bullet items under the first heading whose title matches one of `titles`."""
    found = sections(markdown)
    for title in titles:
        if title in found:
            return [item.text for item in found[title].items]
    return []


def _split_list(value: str) -> list[str]:
    return [part.strip().strip("`") for part in re.split(r"[,;]", value) if part.strip().strip("`")]


def parse_checklist(markdown: str) -> ReadinessChecklist:
    """Parse the "## Agent Readiness" checklist of a ticket description."""
    section = sections(markdown).get("agent readiness")
    if section is None:
        return ReadinessChecklist()
    result = ReadinessChecklist(present=True)
    for item in section.items:
        if item.task is None:
            continue
        checked = item.task
        text = item.text
        low = text.lower()
        key, _, value = text.partition(":")
        key_low = key.strip().lower()
        if low.startswith("acceptance criteria"):
            result.acceptance_criteria_clear = checked
        elif low.startswith("no open questions") or low.startswith("no blocking questions"):
            result.no_open_questions = checked
        elif key_low == "dependencies":
            result.dependencies_checked = checked
            refs = _TICKET_REF.findall(value)
            result.dependencies = [r for r in refs if _safe_id(r)]
            result.dependency_refs = _GITLAB_REF.findall(value)
        elif key_low in ("estimated files", "files"):
            files = _split_list(value)
            result.estimated_files = files if checked or files else None
        elif key_low == "complexity":
            word = value.strip().lower().split("/")[0].strip()
            if word in ("small", "medium", "large") and "/" not in value:
                result.complexity = word  # type: ignore[assignment]
    return result


def _safe_id(value: str) -> bool:
    try:
        check_ticket_id(value)
    except ValueError:
        return False
    return True


def assess(
    ticket: Ticket,
    checklist: ReadinessChecklist,
    resolved_dependencies: Collection[str] = (),
    dependency_notes: Mapping[str, str] | None = None,
) -> ReadinessReport:
    """Apply the criteria table; `resolved_dependencies` are ids done or sequenced earlier in the batch.

    `dependency_notes` says why a dependency is unresolved (e.g. "not done in the tracker").
    """
    report = ReadinessReport(ticket=ticket.id)
    if not ticket.acceptance_criteria and checklist.acceptance_criteria_clear is not True:
        report.missing_required.append("acceptance criteria: none found and the checklist does not tick them")
    elif checklist.acceptance_criteria_clear is False:
        report.missing_required.append("acceptance criteria: the checklist says they are not clear yet")
    if ticket.open_questions:
        report.missing_required.append(
            "no open questions: " + "; ".join(q[:120] for q in ticket.open_questions[:5])
        )
    elif checklist.no_open_questions is False:
        report.missing_required.append("no open questions: the checklist says questions are still open")
    unresolved = sorted(d for d in ticket.dependencies if d not in resolved_dependencies)
    if unresolved:
        notes = dependency_notes or {}
        report.missing_required.append(
            "dependencies resolved: waiting on "
            + ", ".join(f"{d} ({notes[d]})" if d in notes else d for d in unresolved)
        )
    elif checklist.dependencies_checked is False and not ticket.dependencies:
        # With ids listed, intake decides from their state; an unticked box alone is the author's word.
        report.missing_required.append("dependencies resolved: the checklist says they are not resolved")
    if not ticket.estimated_files:
        report.missing_recommended.append("files identified")
    if ticket.complexity is None:
        report.missing_recommended.append("complexity estimated")
    if not ticket.test_cases:
        report.missing_recommended.append("test cases defined")
    return report
