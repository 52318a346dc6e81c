"""The escalation check after C1: when must a human decide before the agent implements?"""

from __future__ import annotations

import fnmatch

from pydantic import BaseModel, Field

from nightshift.agents.contract import CheckpointResult
from nightshift.models import COMPLEXITY_RANK, Ticket


class EscalationPolicy(BaseModel):
    """Configured under `generation.escalation` in nightshift.yaml."""

    #: Files the agent may touch beyond `estimated_files` before a human must look.
    max_files_outside_estimate: int = Field(default=3, ge=0)
    #: Paths no agent edits without a human decision (globs, repository-relative).
    sensitive_paths: list[str] = Field(
        default_factory=lambda: [
            ".gitlab-ci.yml",
            ".github/*",
            "CODEOWNERS",
            ".git/*",
            "**/migrations/*",
            "*.pem",
            "*.key",
            "Dockerfile",
            ".nightshift*",
        ]
    )


def _matches(path: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if (
            fnmatch.fnmatch(path, pattern)
            or path == pattern.rstrip("/")
            or (pattern.endswith("/") and path.startswith(pattern))
        ):
            return True
        if pattern.startswith("**/") and fnmatch.fnmatch(path, pattern[3:]):
            return True
    return False


def files_outside(files: list[str], estimated: list[str]) -> list[str]:
    """Files not covered by any estimated file or glob (a directory entry covers what is under it)."""
    return [f for f in files if not _matches(f, estimated)]


def escalation_reasons(
    ticket: Ticket, scope: CheckpointResult | None, plan: CheckpointResult, policy: EscalationPolicy
) -> list[str]:
    """Every reason to escalate; empty means go on to C2."""
    reasons: list[str] = []
    if plan.status == "escalate":
        reasons.append(f"agent asked for a decision: {plan.reason or 'no reason given'}")
    details = plan.plan
    if details is not None:
        if details.escalation_reason and plan.status != "escalate":
            reasons.append(f"agent flagged: {details.escalation_reason}")
        if details.open_questions:
            reasons.append("open questions: " + "; ".join(details.open_questions))
        if (
            details.complexity
            and ticket.complexity
            and COMPLEXITY_RANK[details.complexity] > COMPLEXITY_RANK[ticket.complexity]
        ):
            reasons.append(f"complexity {details.complexity} is beyond the estimate ({ticket.complexity})")
    files = list(scope.scope.files) if scope is not None and scope.scope is not None else []
    if ticket.estimated_files:
        outside = files_outside(files, ticket.estimated_files)
        if len(outside) > policy.max_files_outside_estimate:
            reasons.append(
                f"{len(outside)} files outside estimated_files (limit {policy.max_files_outside_estimate}): "
                + ", ".join(outside[:10])
            )
    sensitive = [f for f in files if _matches(f, policy.sensitive_paths)]
    if sensitive:
        reasons.append("touches sensitive paths: " + ", ".join(sensitive))
    return reasons
