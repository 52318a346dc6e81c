"""Check-before-act for the GitLab writes GitLab itself does not deduplicate: notes and issues.

GitLab answers a second MR for the same source branch with 409, but happily stores a second note or issue.
So these writes carry a hidden marker, are looked up before posting, and their POST is never re-sent
blindly: after a lost response (5xx, dropped connection, timeout) we look again and re-send only if the
object is verifiably absent. MR notes and issue comments share `upsert_marked_note`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import requests
from gitlab.exceptions import GitlabAuthenticationError, GitlabDeleteError, GitlabError

from nightshift.trackers.base import hidden_marker, own_marked

T = TypeVar("T")

#: Pass to a python-gitlab `create()` whose POST must not be re-sent by the client's own retry.
NO_BLIND_RETRY: dict[str, Any] = {"retry_transient_errors": False}


def is_lost_response(exc: BaseException) -> bool:
    """True when a write may or may not have happened: 5xx, no response, a dropped connection, a timeout."""
    if isinstance(exc, requests.RequestException):
        return True
    if isinstance(exc, GitlabError) and not isinstance(exc, GitlabAuthenticationError):
        return exc.response_code is None or exc.response_code >= 500
    return False


def create_once(find: Callable[[], T | None], create: Callable[[], T]) -> T:
    """Return what `find` sees, else `create` it; after a lost response look again before one re-send.

    `create` must not be retried by the client (pass NO_BLIND_RETRY). At most two POSTs per call, and the
    second only after `find` confirmed the first left nothing behind.
    """
    existing = find()
    if existing is not None:
        return existing
    try:
        return create()
    except Exception as exc:
        if not is_lost_response(exc):
            raise
        found = find()
        if found is not None:
            return found
        return create()


def with_marker(body: str, key: str) -> str:
    """The body as posted: the visible text, then the hidden marker on its own line."""
    return f"{body.rstrip()}\n\n{hidden_marker(key)}"


def upsert_marked_note(notes: Any, key: str, body: str, *, author_id: int | None = None) -> int:
    """One note per `key` on an MR or issue (`notes` is its python-gitlab notes manager); edited in place.

    Only notes written by `author_id` count, so nobody can suppress or hijack ours by quoting the marker.
    Two runs posting at the same moment can both see "absent"; after posting, the runs converge on the
    oldest marked note and delete the others. Returns the note id.
    """
    tag = hidden_marker(key)
    text = with_marker(body, key)

    def marked() -> list[Any]:
        found = own_marked(
            notes.list(iterator=True, per_page=100, sort="asc", order_by="created_at"),
            marked=lambda note: tag in (note.body or "") and not note.attributes.get("system"),
            author=lambda note: (note.attributes.get("author") or {}).get("id"),
            me=author_id,
        )
        return sorted(found, key=lambda n: int(n.id))

    def post() -> Any:
        return notes.create({"body": text}, **NO_BLIND_RETRY)

    existing = marked()
    if not existing:
        created = create_once(lambda: next(iter(marked()), None), post)
        existing = marked() or [created]
    keep, duplicates = existing[0], existing[1:]
    for duplicate in duplicates:
        try:
            duplicate.delete()
        except GitlabDeleteError as exc:
            if exc.response_code != 404:  # 404: the concurrent run deleted it first
                raise
    if keep.body != text:
        keep.body = text
        keep.save()
    return int(keep.id)
