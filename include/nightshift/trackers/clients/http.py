"""What the Jira and GitLab clients share below the library: Retry-After parsing and service naming."""

from __future__ import annotations

import datetime as dt
import math
from email.utils import parsedate_to_datetime

__all__ = ["describe_service", "retry_after_seconds"]


def retry_after_seconds(
    retry_after: str | None, ratelimit_reset: str | None = None, now: dt.datetime | None = None
) -> int | None:
    """Seconds to wait from `Retry-After` (delta-seconds or an HTTP date) or, without it, GitLab's
    `RateLimit-Reset` (epoch seconds). None when neither is usable: the caller falls back to its back-off.
    A date in the past is 0."""
    now = now or dt.datetime.now(dt.UTC)
    if retry_after is not None:
        value = retry_after.strip()
        if value.isdigit():
            return int(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return max(0, math.ceil((when - now).total_seconds()))
    if ratelimit_reset is not None and ratelimit_reset.strip().isdigit():
        return max(0, math.ceil(int(ratelimit_reset) - now.timestamp()))
    return None


def describe_service(product: str, url: str, connection_id: str | None = None) -> str:
    """How error messages name a service: `Jira at https://... (connection 'jira_default')`."""
    name = f"{product} at {url}"
    return f"{name} (connection {connection_id!r})" if connection_id else name
