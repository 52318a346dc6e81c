"""The domain vocabulary of a batch: tickets, the batch config, the manifest and the state machines.

Every boundary (YAML, tracker payloads, agent output, XCom) re-validates through these models.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

#: A project key: Jira's rule, and the prefix of every ticket id (PROJ).
PROJECT_KEY = r"[A-Z][A-Z0-9_]{0,19}"
#: A ticket id inside other text (PROJ-142); TICKET_ID_PATTERN anchors it.
TICKET_ID = rf"{PROJECT_KEY}-[0-9]{{1,9}}"
#: Strict ASCII ticket id (docs/security-and-reliability.md, fact 5). Ticket ids are attacker-controlled:
#: this pattern is checked before an id touches git, a path or a shell.
TICKET_ID_PATTERN = rf"\A{TICKET_ID}\Z"
_TICKET_ID_RE = re.compile(TICKET_ID_PATTERN)
#: A GitLab project path (group/app, group/sub/app) and an issue number in it: `group/app#12`.
GITLAB_PATH = r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)+"
GITLAB_IID = r"[0-9]{1,9}"

_DURATION_RE = re.compile(r"\A(?:(?P<h>[0-9]{1,4})h)?(?:(?P<m>[0-9]{1,5})m)?(?:(?P<s>[0-9]{1,6})s)?\Z")


def is_ticket_id(value: object) -> bool:
    return isinstance(value, str) and _TICKET_ID_RE.match(value) is not None


def check_ticket_id(value: str) -> str:
    """Return `value` if it is a safe ticket id, else raise ValueError naming the rule."""
    if not is_ticket_id(value):
        raise ValueError(
            f"{value!r} is not a valid ticket id: expected an upper-case project key, '-', and a number "
            "(ASCII only, e.g. PROJ-142)"
        )
    return value


def parse_duration(value: str) -> int:
    """Parse a duration written as '30m', '1h', '90s' or '1h30m' into seconds."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration: write it as a string such as '30m', '1h' or '90s'")
    match = _DURATION_RE.match(value.strip())
    if not value.strip() or match is None:
        raise ValueError(f"{value!r} is not a duration: write it like '30m', '1h', '90s' or '1h30m'")
    hours, minutes, seconds = (int(match.group(k) or 0) for k in ("h", "m", "s"))
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"{value!r} is not a positive duration")
    return total


def format_duration(seconds: int) -> str:
    """Inverse of parse_duration for whole units: 1800 -> '30m', 3600 -> '1h', 90 -> '90s'."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


_BATCH_ID_RE = re.compile(r"\A[0-9A-Za-z][0-9A-Za-z._-]{0,63}\Z")


def check_batch_id(value: str) -> str:
    """Batch ids name folders and git trailers: ASCII letters, digits, '.', '_', '-' only."""
    if not _BATCH_ID_RE.match(value) or ".." in value:
        raise ValueError(f"{value!r} is not a valid batch id (e.g. 2024-01-15-overnight)")
    return value


TicketId = Annotated[str, AfterValidator(check_ticket_id)]
BatchId = Annotated[str, AfterValidator(check_batch_id)]
Duration = Annotated[str, AfterValidator(lambda v: (parse_duration(v), v)[1])]


def check_repo_glob(pattern: str) -> str:
    """A file or glob inside the repository: relative, no '..', no control characters."""
    if not pattern or pattern.startswith(("/", "\\")) or "\x00" in pattern:
        raise ValueError(f"{pattern!r} is not a repository-relative path")
    if any(part == ".." for part in re.split(r"[/\\]", pattern)):
        raise ValueError(f"{pattern!r} leaves the repository ('..')")
    if any(ord(ch) < 32 for ch in pattern):
        raise ValueError(f"{pattern!r} contains control characters")
    return pattern


#: A file or glob inside the repository (a ticket's estimated files, the fence's paths).
RepoGlob = Annotated[str, AfterValidator(check_repo_glob)]

Priority = Literal["high", "medium", "low"]
Complexity = Literal["small", "medium", "large"]
TicketSource = Literal["jira", "gitlab", "file", "manifest"]

PRIORITY_RANK: dict[str, int] = {"high": 0, "medium": 1, "low": 2}
COMPLEXITY_RANK: dict[str, int] = {"small": 0, "medium": 1, "large": 2}


class Ticket(BaseModel):
    """A unit of work for one agent, as collected from a tracker or a file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: TicketId
    title: str = ""
    description: str = ""
    priority: Priority = "medium"
    complexity: Complexity | None = None
    estimated_files: list[RepoGlob] = Field(default_factory=list)
    dependencies: list[TicketId] = Field(default_factory=list)
    acceptance_criteria: list[str] = Field(default_factory=list)
    open_questions: list[str] = Field(default_factory=list)
    test_cases: list[str] = Field(default_factory=list)
    source: TicketSource = "file"
    url: str | None = None
    labels: list[str] = Field(default_factory=list)
    #: GitLab project path the work lands in (e.g. "group/app"), and its base branch.
    repository: str | None = None
    base_branch: str | None = None


class BatchConfig(BaseModel):
    """The `config:` block of a manifest."""

    model_config = ConfigDict(extra="forbid")

    max_tickets: int = Field(default=20, ge=1, le=1000)
    timeout_per_ticket: Duration = "30m"
    parallel_agents: int = Field(default=3, ge=1, le=64)

    @property
    def timeout_seconds(self) -> int:
        return parse_duration(self.timeout_per_ticket)


class BatchStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    REVIEWED = "reviewed"
    ABORTED = "aborted"


BATCH_TRANSITIONS: dict[BatchStatus, frozenset[BatchStatus]] = {
    BatchStatus.PENDING: frozenset({BatchStatus.RUNNING, BatchStatus.ABORTED}),
    BatchStatus.RUNNING: frozenset({BatchStatus.COMPLETED, BatchStatus.ABORTED}),
    BatchStatus.COMPLETED: frozenset({BatchStatus.REVIEWED}),
    BatchStatus.REVIEWED: frozenset(),
    BatchStatus.ABORTED: frozenset(),
}


class TicketState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    ESCALATED = "escalated"
    FAILED = "failed"
    SKIPPED = "skipped"
    CARRIED_OVER = "carried_over"


TICKET_TRANSITIONS: dict[TicketState, frozenset[TicketState]] = {
    TicketState.PENDING: frozenset(
        {TicketState.RUNNING, TicketState.SKIPPED, TicketState.CARRIED_OVER, TicketState.FAILED}
    ),
    TicketState.RUNNING: frozenset(
        {
            TicketState.COMPLETED,
            TicketState.PARTIAL,
            TicketState.ESCALATED,
            TicketState.FAILED,
            TicketState.CARRIED_OVER,
        }
    ),
    TicketState.SKIPPED: frozenset({TicketState.CARRIED_OVER}),
    TicketState.COMPLETED: frozenset(),
    TicketState.PARTIAL: frozenset(),
    TicketState.ESCALATED: frozenset(),
    TicketState.FAILED: frozenset(),
    TicketState.CARRIED_OVER: frozenset(),
}

#: States after which a ticket's dependents may start (only COMPLETED lets them build).
TERMINAL_TICKET_STATES = frozenset(s for s, nxt in TICKET_TRANSITIONS.items() if not nxt) | {
    TicketState.SKIPPED
}


class InvalidTransition(ValueError):
    """A state change the state machine does not allow."""


def transition_batch(current: BatchStatus, new: BatchStatus) -> BatchStatus:
    if current == new:
        return current  # repeating a transition is a no-op: tasks run at least once
    if new not in BATCH_TRANSITIONS[current]:
        raise InvalidTransition(f"batch status cannot go from {current.value} to {new.value}")
    return new


def transition_ticket(ticket_id: str, current: TicketState, new: TicketState) -> TicketState:
    if current == new:
        return current
    if new not in TICKET_TRANSITIONS[current]:
        raise InvalidTransition(f"{ticket_id}: state cannot go from {current.value} to {new.value}")
    return new


class ManifestTicket(BaseModel):
    """One `tickets:` entry of the manifest: the spec's five fields plus optional intake records."""

    model_config = ConfigDict(extra="forbid")

    id: TicketId
    priority: Priority = "medium"
    complexity: Complexity = "medium"
    estimated_files: list[RepoGlob] = Field(default_factory=list)
    dependencies: list[TicketId] = Field(default_factory=list)
    # Optional records written by intake; absent from the spec's example, so omitted when empty.
    title: str | None = None
    url: str | None = None
    source: TicketSource | None = None
    repository: str | None = None
    base_branch: str | None = None
    warnings: list[str] = Field(default_factory=list)
    sanitised: list[str] = Field(default_factory=list)
    carried_over_from: str | None = None


class BatchManifest(BaseModel):
    """The batch manifest, in the specification's YAML format (plus status `aborted`)."""

    model_config = ConfigDict(extra="forbid")

    batch_id: BatchId
    created_at: str
    config: BatchConfig = Field(default_factory=BatchConfig)
    tickets: list[ManifestTicket] = Field(default_factory=list)
    status: BatchStatus = BatchStatus.PENDING

    @field_validator("created_at", mode="before")
    @classmethod
    def _iso_timestamp(cls, value: object) -> str:
        import datetime as dt

        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if not isinstance(value, str):
            raise ValueError("created_at must be an ISO 8601 timestamp such as 2024-01-15T18:00:00Z")
        try:
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an ISO 8601 timestamp") from exc
        return value

    def ticket(self, ticket_id: str) -> ManifestTicket:
        for entry in self.tickets:
            if entry.id == ticket_id:
                return entry
        raise KeyError(ticket_id)

    @property
    def ticket_ids(self) -> list[str]:
        return [t.id for t in self.tickets]


def batch_id_for_run(run_id: str, run_type: str, when: dt.datetime) -> str:
    """The one batch-id rule. Scheduled runs: `2024-01-15-overnight` (the spec's form, the run's date in
    UTC). Other runs get a suffix from the run id, so two manual runs on one day never share a folder."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    day = when.strftime("%Y-%m-%d")
    if run_type == "scheduled":
        return check_batch_id(f"{day}-overnight")
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return check_batch_id(f"{day}-{run_type}-{digest}")
