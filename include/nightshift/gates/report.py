"""The gate report: one JSON document per ticket per batch (`tickets/<ID>/gates.json`).

It is the contract between the gates stage and everything after it (review queue, review page, MR note,
CLI `gates check --json`). The schema is versioned: readers refuse a major version they do not know.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"

#: The one vocabulary of flags (issue: gates). Security-class flags sit outside the score's weights
#: and cap it; the others come from failed checks.
FlagKind = Literal[
    "tests_failed",
    "tests_removed",
    "no_tests",
    "lint",
    "security",
    "secret",
    "out_of_scope",
    "protected_path",
    "empty_change",
    "pipeline_failed",
]
SECURITY_FLAGS: frozenset[str] = frozenset({"security", "secret", "protected_path"})

CheckStatus = Literal["passed", "failed", "not_run"]


class CheckResult(BaseModel):
    """One check's result. `not_run` is never counted as passed, never as zero."""

    model_config = ConfigDict(extra="forbid")

    name: str
    status: CheckStatus
    reason: str = ""
    duration_s: float = 0.0
    #: Free-form figures the check measured (tests run/failed, findings introduced, lines changed...).
    details: dict[str, int | float | str | bool | None] = Field(default_factory=dict)


class Flag(BaseModel):
    """A finding that a reviewer must see, located where it can be: file and line."""

    model_config = ConfigDict(extra="forbid")

    kind: FlagKind
    file: str | None = None
    line: int | None = None
    message: str = ""
    rule: str | None = None
    severity: Literal["low", "medium", "high", "critical"] | None = None
    #: The check that raised it (the score credits or caps per check).
    check: str | None = None

    @property
    def is_security(self) -> bool:
        return self.kind in SECURITY_FLAGS

    def where(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file


class ScoreLine(BaseModel):
    """One weighted component of the score, shown to reviewers as the breakdown."""

    model_config = ConfigDict(extra="forbid")

    check: str
    weight: float
    earned: float
    note: str = ""


class GateReport(BaseModel):
    """Everything the gates found for one ticket's merge request in one batch."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = SCHEMA_VERSION
    batch_id: str | None = None
    ticket_id: str | None = None
    base: str
    head: str
    score: int = Field(ge=0, le=100)
    checks: list[CheckResult]
    flags: list[Flag] = Field(default_factory=list)
    breakdown: list[ScoreLine] = Field(default_factory=list)
    #: How many checks the score rests on (those that ran); the rest are not_run with a reason.
    checks_counted: int = 0
    #: A cap applied to the score (security findings), with the reason; None when uncapped.
    capped_by: str | None = None
    files_changed: list[str] = Field(default_factory=list)
    lines_added: int = 0
    lines_removed: int = 0
    merge_request_url: str | None = None
    summary_markdown: str = ""
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def security_flags(self) -> list[Flag]:
        return [f for f in self.flags if f.is_security]

    def band(self) -> Literal["high", "medium", "low"]:
        """The `nightshift-score::<band>` label."""
        return "high" if self.score > 90 else "medium" if self.score >= 70 else "low"

    def cli_json(self) -> dict[str, object]:
        """The documented `gates check --json` shape (a stable subset of the report)."""
        return {
            "score": self.score,
            "checks": [
                {"name": c.name, "status": c.status, "reason": c.reason, "duration_s": c.duration_s}
                for c in self.checks
            ],
            "flags": [
                {"kind": f.kind, "file": f.file, "line": f.line, "message": f.message} for f in self.flags
            ],
            "summary_markdown": self.summary_markdown,
        }


def load_report(text: str) -> GateReport:
    """Parse a stored report; refuse a schema major version this code does not know."""
    report = GateReport.model_validate_json(text)
    if report.schema_version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise ValueError(f"gate report schema {report.schema_version} is not supported ({SCHEMA_VERSION})")
    return report
