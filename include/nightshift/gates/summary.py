"""The review summary posted on each merge request: what the ticket asked, what changed, what the checks
found (file:line), what is left, and where to look (task logs, review page, ticket).

Ticket and agent text (titles, criteria, plans, file names, test names, check reasons) is untrusted:
it reaches markdown only through the text guard (nightshift.publish.guard), like every other text
Nightshift publishes.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from nightshift.agents.contract import ImplementResult, PlanResult
from nightshift.gates.report import GateReport
from nightshift.generation.usage import UsageTotals
from nightshift.globs import matches_any
from nightshift.models import Ticket
from nightshift.publish import guard

#: The marker the MR note is upserted by (one note per MR per batch).
MARKER = "<!-- nightshift:gates -->"


def _quote(text: str | None, limit: int = 400) -> str:
    """One guarded line, safe in a table cell too (`|` would end the cell)."""
    return guard.inline(text, limit=limit).replace("|", "\\|")


def _code(text: str | None, limit: int = 200) -> str:
    return guard.code(text, limit=limit) or "``"


class SummaryLinks(BaseModel):
    """URLs the summary links to; the caller builds them (nightshift.review.links)."""

    model_config = ConfigDict(extra="forbid")

    review_page: str | None = None
    ticket: str | None = None
    merge_request: str | None = None
    #: Airflow task log pages by checkpoint ("C0", "C1", "C2").
    task_logs: dict[str, str] = Field(default_factory=dict)


def _link(label: str, url: str | None) -> str:
    if not url or not re.match(r"\Ahttps?://[^\s()<>]+\Z", url):
        return f"{label}: (not available)"
    return f"[{label}]({url})"


_STATUS = {"passed": "✅ passed", "failed": "❌ failed", "not_run": "⏸ not run"}


def render_summary(
    report: GateReport,
    *,
    ticket: Ticket | None = None,
    plan: PlanResult | None = None,
    implementation: ImplementResult | None = None,
    links: SummaryLinks | None = None,
) -> str:
    links = links or SummaryLinks()
    title = f"{ticket.id}: {_quote(ticket.title, 120)}" if ticket else "merge request"
    security = len(report.security_flags)
    lines = [
        MARKER,
        f"## Nightshift gates — {title}",
        "",
        f"**Score: {report.score}/100** ({report.band()}) · security: "
        + ("OK" if not security else f"{security} finding(s)")
        + f" · rests on {report.checks_counted} of {len(report.checks)} checks"
        + (f" · {report.capped_by}" if report.capped_by else ""),
        "",
    ]
    if ticket is not None:
        goal = guard.agent_text(ticket.description or ticket.title, limit=1500)
        lines += ["### Goal", "", goal or "(no description)", ""]
        if ticket.acceptance_criteria:
            lines += ["**Acceptance criteria**", ""]
            lines += guard.bullet_items(ticket.acceptance_criteria[:20])
            lines.append("")

    estimated = list(ticket.estimated_files) if ticket else []
    lines += [
        "### What changed",
        "",
        f"{len(report.files_changed)} file(s), +{report.lines_added} / −{report.lines_removed} lines.",
        "",
    ]
    for path in report.files_changed[:40]:
        mark = (
            "" if not estimated else (" (estimated)" if matches_any(path, estimated) else " (not estimated)")
        )
        lines.append(f"- {_code(path)}{mark}")
    if len(report.files_changed) > 40:
        lines.append(f"- … and {len(report.files_changed) - 40} more")
    lines.append("")
    if estimated:
        missing = [p for p in estimated if not any(matches_any(f, [p]) for f in report.files_changed)]
        lines += [
            "**Scope against the estimate:** estimated "
            + ", ".join(_code(p) for p in estimated[:20])
            + ("; not touched: " + ", ".join(_code(p) for p in missing[:20]) if missing else ""),
            "",
        ]

    if plan is not None and (plan.plan or plan.risks):
        lines += [
            "### Plan (C1) and risks",
            "",
            guard.agent_text(plan.plan, limit=3000) or "(no plan text)",
            "",
        ]
        lines += [f"- Risk: {_quote(r, 300)}" for r in plan.risks[:10]]
        lines.append("")

    lines += ["### Checks", "", "| check | result | points | reason |", "|---|---|---|---|"]
    points = {line.check: line for line in report.breakdown}
    for check in report.checks:
        line = points.get(check.name)
        pts = f"{line.earned:g}/{line.weight:g}" if line and line.weight else "—"
        lines.append(f"| {check.name} | {_STATUS[check.status]} | {pts} | {_quote(check.reason, 200)} |")
    lines.append("")

    if report.flags:
        lines += ["### Findings", ""]
        for flag in report.flags[:50]:
            where = f"{_code(flag.where())} " if flag.where() else ""
            rule = f" ({_quote(flag.rule, 80)})" if flag.rule else ""
            lines.append(f"- **{flag.kind}** {where}{_quote(flag.message, 300)}{rule}")
        if len(report.flags) > 50:
            lines.append(f"- … and {len(report.flags) - 50} more in the gate report")
        lines.append("")

    remaining = implementation.remaining_work if implementation else []
    lines += ["### Remaining work", ""]
    lines += guard.bullet_items(remaining[:20]) or ["- none reported by the agent"]
    lines.append("")

    logs = " · ".join(_link(label, url) for label, url in links.task_logs.items()) or "not available"
    lines += [
        "### Links",
        "",
        f"- {_link('Review page', links.review_page)}",
        f"- {_link('Ticket', links.ticket or (ticket.url if ticket else None))}",
        f"- Task logs: {logs}",
        "",
    ]
    return "\n".join(lines)


def with_usage(summary: str, usage: UsageTotals) -> str:
    """The summary with the agent's token and cost line (nightshift.generation.usage) before Links."""
    if not (usage.total_tokens or usage.cost_usd):
        return summary
    block = f"### Agent usage\n\n{usage.short()} in {usage.runs} agent run(s).\n\n"
    head, sep, tail = summary.partition("### Links")
    return head + block + sep + tail if sep else summary + "\n" + block
