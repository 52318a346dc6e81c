"""The one idempotent-write helper: every non-idempotent tracker or forge write goes through here.

Airflow runs tasks at least once, and neither Jira nor GitLab deduplicates a comment, a note or an issue.
So, on Jira and GitLab alike (docs/security-and-reliability.md, facts 3 and 4):

* a write is preceded by a look-up (`create_once`), and its POST is never re-sent blindly by a client
  (the clients switch their own re-send off for it, see `trackers.clients`);
* after a lost response (`TrackerUnavailable`: 5xx, timeout, dropped connection) we look again, and
  re-send once only when the object is verifiably absent (`write_once`): the look-up must read current
  data, not a search index that lags; a second lost response fails the task, whose Airflow retry starts
  again from the look-up;
* a create the tracker itself refuses as a duplicate (GitLab's 409 for a second MR on one branch, an
  existing label or issue link) is done already: `unless_exists` turns that `TrackerConflict` into None;
* marked copies (comments, notes) converge: concurrent runs may both post, and each then keeps the
  oldest copy, deletes the others (a 404 there means the other run deleted it first) and updates the
  kept one in place (`upsert_marked`).

The adapters pass a `guard`: their own context manager that turns library errors into the
`trackers.errors` hierarchy and names the service; nothing here knows a client library.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

from nightshift.trackers.errors import TrackerConflict, TrackerError, TrackerNotFound, TrackerUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
C = TypeVar("C")

#: An adapter's error translation: `with guard("reading PROJ-1"): ...` raises `trackers.errors` only.
#: `what`, below, names the object written as a noun phrase: "the comment marked '...' on PROJ-1".
Guard = Callable[[str], AbstractContextManager[None]]

__all__ = ["Guard", "MarkedCopies", "create_once", "unless_exists", "upsert_marked", "write_once"]


def write_once(
    create: Callable[[], T],
    check: Callable[[], T | None],
    *,
    guard: Guard,
    what: str,
    check_is_current: bool = True,
) -> T:
    """Run `create` (whose client does not re-send it); after a lost response, `check` whether it
    happened, and re-send once only when it verifiably did not. At most two sends per call.

    Absence is only verified by a look-up that sees a write as soon as it is applied. One that reads a
    lagging search index (Jira's JQL) passes `check_is_current=False`: then a lost write that the look-up
    does not show fails the task instead (its Airflow retry looks again, later), rather than risk a
    duplicate.
    """
    try:
        with guard(f"writing {what}"):
            return create()
    except TrackerUnavailable as lost:
        try:
            with guard(f"checking whether {what} was written"):
                found = check()
        except TrackerError:
            raise lost from lost.__cause__  # the check failed too: the outcome stays unknown
        if found is not None:
            log.warning("%s, but the write happened; not repeating it", lost)
            return found
        if not check_is_current:
            raise lost from lost.__cause__  # absence not proven: a lagging index may not show it yet
        log.warning("%s, and nothing was written; sending it once more", lost)
        with guard(f"writing {what}"):
            return create()


def create_once(
    find: Callable[[], T | None],
    create: Callable[[], T],
    *,
    guard: Guard,
    what: str,
    find_is_current: bool = True,
) -> T:
    """What `find` sees, else `create` it under the ambiguous-write rule of `write_once`."""
    with guard(f"looking for {what}"):
        existing = find()
    if existing is not None:
        return existing
    return write_once(create, find, guard=guard, what=what, check_is_current=find_is_current)


def unless_exists(create: Callable[[], T], *, guard: Guard, what: str) -> T | None:
    """Run `create`; None when the tracker answers that the object already exists (`TrackerConflict`,
    by the one status rule: a concurrent run, or the client's own re-send after a lost response, made
    it first). Callers that need the object read it then; for the others the write is simply done."""
    try:
        with guard(f"creating {what}"):
            return create()
    except TrackerConflict:
        log.info("%s already exists; not creating it again", what)
        return None


class MarkedCopies(Protocol[C]):
    """The copies of one marked write (comments or notes carrying one marker) on one issue or MR."""

    def own(self) -> Sequence[C]:
        """The marked copies the connection's own account wrote, oldest first."""
        ...

    def post(self) -> C:
        """Post a new copy (the client must not re-send it on its own)."""
        ...

    def delete(self, copy: C) -> None: ...

    def is_current(self, copy: C) -> bool:
        """Whether the copy already carries the wanted body."""
        ...

    def update(self, copy: C) -> None:
        """Edit the copy in place to the wanted body."""
        ...


def upsert_marked(copies: MarkedCopies[C], *, guard: Guard, what: str) -> C:
    """One copy per marker: posted once, edited in place, duplicates from concurrent runs deleted.

    Returns the kept (oldest) copy.
    """
    with guard(f"reading {what}"):
        existing = list(copies.own())
    if not existing:
        created = write_once(copies.post, lambda: next(iter(copies.own()), None), guard=guard, what=what)
        with guard(f"reading {what}"):
            existing = list(copies.own()) or [created]
    keep, duplicates = existing[0], existing[1:]
    for duplicate in duplicates:
        log.warning("deleting a duplicate of %s (a concurrent run posted it too)", what)
        try:
            with guard(f"deleting a duplicate of {what}"):
                copies.delete(duplicate)
        except TrackerNotFound:
            pass  # the concurrent run deleted it first
    if not copies.is_current(keep):
        with guard(f"updating {what}"):
            copies.update(keep)
    return keep
