"""One interface for the tracker operations Jira and GitLab issues share.

Intake reads `TrackerIssue`s through it; generation and review write comments, labels and
follow-up tickets through it. Every write is idempotent: Airflow runs tasks at least once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, Field

# The interface's errors, defined once in trackers.errors (every adapter and client raises only these).
from nightshift.trackers.errors import (
    TrackerAuthError,
    TrackerConfigError,
    TrackerConflict,
    TrackerError,
    TrackerNotFound,
    TrackerUnavailable,
)

__all__ = [
    "DescriptionFormat",
    "IssueLink",
    "Tracker",
    "TrackerAuthError",
    "TrackerConfigError",
    "TrackerConflict",
    "TrackerError",
    "TrackerIssue",
    "TrackerNotFound",
    "TrackerUnavailable",
    "hidden_marker",
    "marker_key",
    "own_marked",
]

T = TypeVar("T")

DescriptionFormat = Literal["markdown", "wiki", "adf", "text"]


class IssueLink(BaseModel):
    """A link from this issue to another; `kind` is normalised from the tracker's link type."""

    kind: Literal["is_blocked_by", "blocks", "relates_to"]
    key: str
    done: bool = False


class TrackerIssue(BaseModel):
    """An issue as a tracker returns it, before field mapping turns it into a Ticket.

    `description` is kept in the tracker's own format (`description_format`): ADF (as a JSON string)
    on Jira Cloud, wiki markup on Jira Server/DC, markdown on GitLab.
    """

    tracker: Literal["jira", "gitlab"]
    key: str  # Jira key (PROJ-142) or GitLab reference (group/app#12)
    project: str  # Jira project key or GitLab project path
    title: str
    description: str = ""
    description_format: DescriptionFormat = "text"
    url: str
    labels: list[str] = Field(default_factory=list)
    priority: str | None = None  # tracker's own priority name, mapped by intake
    status: str = ""
    done: bool = False
    components: list[str] = Field(default_factory=list)
    links: list[IssueLink] = Field(default_factory=list)
    custom_fields: dict[str, object] = Field(default_factory=dict)
    comments: list[str] = Field(default_factory=list)


@runtime_checkable
class Tracker(Protocol):
    """The operations Nightshift needs from any issue tracker."""

    name: str

    def search(self, query: str) -> Iterator[TrackerIssue]:
        """All issues matching `query` (JQL on Jira, a label on GitLab), paging through every page."""
        ...

    def get(self, key: str) -> TrackerIssue:
        """The issue with its comments; TrackerNotFound when it does not exist."""
        ...

    def is_done(self, key: str) -> bool:
        """Whether the issue is finished; TrackerNotFound when it does not exist."""
        ...

    def comment_once(self, key: str, marker: str, body: str) -> str:
        """Post `body` once per `marker` (see marker_key), embedded hidden in the tracker's own way
        (an HTML comment on GitLab, a wiki/ADF-invisible form on Jira); update in place if it exists.

        Returns the comment id.
        """
        ...

    def ensure_labels(self, key: str, add: list[str], remove: list[str] = ...) -> None: ...

    def create_followup_once(self, original_key: str, marker: str, title: str, body: str) -> str:
        """Create a follow-up ticket linked to `original_key` unless one with `marker` exists.

        `title` is one line and `body` markdown, both built by nightshift.publish.texts (guarded).

        Returns the follow-up's key.
        """
        ...


def marker_key(**parts: str) -> str:
    """The identity of an idempotent write, e.g.
    `nightshift:batch=2024-01-15-overnight;ticket=PROJ-142;kind=not-ready`."""
    return "nightshift:" + ";".join(f"{k}={v}" for k, v in parts.items())


def hidden_marker(key: str) -> str:
    """A marker hidden in markdown (GitLab notes and MR descriptions)."""
    return f"<!-- {key} -->"


def own_marked(
    items: Iterable[T], *, marked: Callable[[T], bool], author: Callable[[T], object], me: object | None
) -> list[T]:
    """The items (comments, notes) that carry a marker and were written by the connection's own
    account `me`: anyone can quote a marker, and their text must neither stand in for ours nor be
    edited or deleted as if it were ours. `me=None` (the caller does not know itself) trusts any author.
    """
    return [item for item in items if marked(item) and (me is None or author(item) == me)]
