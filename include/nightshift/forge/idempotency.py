"""Marked GitLab notes: the python-gitlab side of the shared idempotent-write helper.

GitLab answers a second MR for the same source branch with 409, but happily stores a second note or issue.
So these writes carry a hidden marker and go through `trackers.writes` (look up, send once, after a lost
response look again and re-send once only if absent, converge on the oldest copy), exactly as the Jira
tracker's comments do. MR notes and issue comments share `upsert_marked_note`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nightshift.trackers.base import hidden_marker, own_marked
from nightshift.trackers.clients.gitlab import NO_BLIND_RETRY
from nightshift.trackers.writes import Guard, upsert_marked

__all__ = ["upsert_marked_note", "with_marker"]


def with_marker(body: str, key: str) -> str:
    """The body as posted: the visible text, then the hidden marker on its own line."""
    return f"{body.rstrip()}\n\n{hidden_marker(key)}"


class _MarkedNotes:
    """The notes of one MR or issue that carry one marker (`trackers.writes.MarkedCopies`)."""

    def __init__(self, notes: Any, key: str, body: str, author_id: int | None) -> None:
        self.notes = notes
        self.tag = hidden_marker(key)
        self.text = with_marker(body, key)
        self.author_id = author_id

    def own(self) -> Sequence[Any]:
        """Only notes written by `author_id` count: nobody can suppress or hijack ours by quoting it."""
        found = own_marked(
            self.notes.list(iterator=True, per_page=100, sort="asc", order_by="created_at"),
            marked=lambda note: self.tag in (note.body or "") and not note.attributes.get("system"),
            author=lambda note: (note.attributes.get("author") or {}).get("id"),
            me=self.author_id,
        )
        return sorted(found, key=lambda n: int(n.id))

    def post(self) -> Any:
        return self.notes.create({"body": self.text}, **NO_BLIND_RETRY)

    def delete(self, copy: Any) -> None:
        copy.delete()

    def is_current(self, copy: Any) -> bool:
        return bool(copy.body == self.text)

    def update(self, copy: Any) -> None:
        copy.body = self.text
        copy.save()


def upsert_marked_note(notes: Any, key: str, body: str, *, guard: Guard, author_id: int | None = None) -> int:
    """One note per `key` on an MR or issue (`notes` is its python-gitlab notes manager); edited in place.

    `guard` is the caller's GitLab error translation (`GitLabAccount.errors`). Returns the note id.
    """
    kept = upsert_marked(
        _MarkedNotes(notes, key, body, author_id), guard=guard, what=f"the note marked {key!r}"
    )
    return int(kept.id)
