"""The fixed contract between Nightshift and any coding agent: one JSON request and one JSON result
per checkpoint (C0 scope, C1 plan and risks, C2 implement and test).

A missing or malformed result is a failed checkpoint with the reason, never a crash.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nightshift.models import Ticket


class Checkpoint(StrEnum):
    C0 = "C0"  # understand scope, identify files
    C1 = "C1"  # plan approach, identify risks
    C2 = "C2"  # implement and test


CheckpointStatus = Literal["ok", "escalate", "partial", "rate_limited", "failed"]


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_seconds: int = Field(ge=1)
    max_output_bytes: int = 2 * 1024 * 1024
    memory_mb: int = 2048
    max_processes: int = 256


class TokenUsage(BaseModel):
    """Tokens and money one agent run spent. input_tokens counts every input token, cached ones
    included; cached_input_tokens is the part read from the provider's prompt cache."""

    model_config = ConfigDict(extra="forbid")

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    cached_input_tokens: int = Field(default=0, ge=0)
    #: The model the tokens were spent on, when the agent says so (or the configured one).
    model: str = ""
    #: Where cost_usd comes from: the agent's own report, Nightshift's price table, or nowhere.
    cost_source: Literal["agent", "price_table", "none"] = "none"

    @model_validator(mode="after")
    def _cost_has_a_source(self) -> TokenUsage:
        """A cost without a named source came from the agent's own result."""
        if self.cost_usd > 0 and self.cost_source == "none":
            self.cost_source = "agent"
        return self


class ScopeResult(BaseModel):
    """C0: what the agent thinks the ticket touches."""

    summary: str = ""
    files: list[str] = Field(default_factory=list)


class PlanResult(BaseModel):
    """C1: the approach, the risks, and whether a human must decide first."""

    plan: str = ""
    risks: list[str] = Field(default_factory=list)
    escalation_reason: str | None = None
    complexity: Literal["small", "medium", "large"] | None = None
    open_questions: list[str] = Field(default_factory=list)


class ImplementResult(BaseModel):
    """C2: what was changed and tested, and what is left (for partial results)."""

    summary: str = ""
    bullets: list[str] = Field(default_factory=list)
    files_changed: list[str] = Field(default_factory=list)
    tests_run: list[str] = Field(default_factory=list)
    tests_passed: bool | None = None
    remaining_work: list[str] = Field(default_factory=list)


class CheckpointRequest(BaseModel):
    """What the agent is asked at one checkpoint. Written as request.json into the run directory."""

    model_config = ConfigDict(extra="forbid")

    batch_id: str
    ticket: Ticket
    checkpoint: Checkpoint
    workspace: str  # path of the worktree the agent may edit
    previous: dict[str, CheckpointResult] = Field(default_factory=dict)  # keyed "C0", "C1"
    limits: Limits
    #: A human's answer to an earlier escalation, travelling with the ticket to C0.
    escalation_answer: str | None = None


class CheckpointResult(BaseModel):
    """What the agent answers. Read from result.json; anything else is a failed checkpoint."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: Checkpoint
    status: CheckpointStatus
    reason: str = ""
    scope: ScopeResult | None = None
    plan: PlanResult | None = None
    implementation: ImplementResult | None = None
    rate_limit_reset_at: dt.datetime | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    duration_seconds: float = 0.0

    @classmethod
    def failed(cls, checkpoint: Checkpoint, reason: str) -> CheckpointResult:
        return cls(checkpoint=checkpoint, status="failed", reason=reason)


CheckpointRequest.model_rebuild()


def parse_result(checkpoint: Checkpoint, raw: bytes | str | None) -> CheckpointResult:
    """Validate an agent's result; missing, malformed or mismatched output becomes a failed result."""
    if raw is None or (isinstance(raw, bytes | str) and not raw.strip()):
        return CheckpointResult.failed(checkpoint, "the agent wrote no result")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return CheckpointResult.failed(checkpoint, f"the agent's result is not JSON: {exc}")
    try:
        result = CheckpointResult.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "result"
        return CheckpointResult.failed(
            checkpoint,
            f"the agent's result is invalid at {where}: {first['msg']} ({exc.error_count()} error(s))",
        )
    if result.checkpoint != checkpoint:
        return CheckpointResult.failed(
            checkpoint,
            f"the agent answered checkpoint {result.checkpoint.value} when asked for {checkpoint.value}",
        )
    return result
