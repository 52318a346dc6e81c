"""One error hierarchy for every tracker and forge call, Jira and GitLab alike.

Each client module (`trackers.clients.jira`, `trackers.clients.gitlab`) turns its library's exceptions into
these, with `error_class` choosing the class from the HTTP status by one rule, so callers never inspect a
library exception (`__cause__`) to learn what happened:

    TrackerError                  a call failed; the message names the service and the connection
    ├── TrackerConfigError        fix the configuration, retrying will not help (400, a rejected JQL/label)
    │   └── TrackerAuthError      the credentials were refused (401, 403)
    ├── TrackerNotFound           the object does not exist (404); also a LookupError
    ├── TrackerConflict           it already exists (409): a create that a concurrent run or a re-sent
    │                             request already made, which callers treat as done
    └── TrackerUnavailable        5xx, no answer, timeout, dropped connection: a write's outcome is unknown
"""

from __future__ import annotations

__all__ = [
    "TrackerAuthError",
    "TrackerConfigError",
    "TrackerConflict",
    "TrackerError",
    "TrackerNotFound",
    "TrackerUnavailable",
    "error_class",
]


class TrackerError(RuntimeError):
    """A tracker call failed; the message names the service (and connection) that failed."""


class TrackerConfigError(TrackerError):
    """A query or label configuration the tracker rejected (e.g. a JQL error): fix config, don't retry."""


class TrackerAuthError(TrackerConfigError):
    """The tracker refused the connection's credentials (401) or their rights (403): fix the connection."""


class TrackerNotFound(TrackerError, LookupError):
    """The issue, comment or project does not exist (404). Callers that may look up a missing object
    (a dependency on a deleted issue, a duplicate a concurrent run already deleted) catch this."""


class TrackerConflict(TrackerError):
    """The object a create names already exists (409): GitLab's answer to a second open MR for one
    source branch, an existing label or issue link. A create that may repeat (a concurrent run, or a
    client re-sending after a lost response) catches this and reads the existing object instead."""


class TrackerUnavailable(TrackerError):
    """The service failed without a usable answer: a 5xx, a timeout, a refused or dropped connection.

    For a write this means its outcome is unknown: the server may have applied it. The idempotent-write
    helper (`trackers.writes`) checks before it re-sends; nothing else retries on top of the clients.
    """


def error_class(status: int | None) -> type[TrackerError]:
    """The class for a failed HTTP call, by its status (None: no response at all)."""
    if status is None or status >= 500:
        return TrackerUnavailable
    if status in (401, 403):
        return TrackerAuthError
    if status == 404:
        return TrackerNotFound
    if status == 409:
        return TrackerConflict
    if status == 400:
        return TrackerConfigError
    return TrackerError
