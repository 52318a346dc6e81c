"""Commit messages in the specification's convention.

feat(PROJ-142): implement user authentication

- Add login endpoint with JWT tokens

Agent: batch-2024-01-15
Checkpoint: C2-complete
Quality-Score: pending-gates
Nightshift-Batch: 2024-01-15-overnight

The last trailer names the batch exactly: with the bot's author it is how a later step (or batch)
tells a branch head this batch pushed from anyone else's (`is_batch_commit`); the date-only `Agent:`
trailer is shared by every batch of a day.
"""

from __future__ import annotations

import re

_DATE = re.compile(r"\A(\d{4}-\d{2}-\d{2})")
BATCH_TRAILER = "Nightshift-Batch"


def batch_date(batch_id: str) -> str:
    """`2024-01-15-overnight` -> `2024-01-15` (the spec's `Agent: batch-<date>` trailer)."""
    m = _DATE.match(batch_id)
    return m.group(1) if m else batch_id


#: GitLab references in a commit message: `#12`, `group/app!3`, `&4`, and issue / MR URLs.
_REFERENCE = re.compile(r"(?<![A-Za-z0-9_])([A-Za-z0-9_.\-/]*[#!&])(\d)")
_REFERENCE_URL = re.compile(r"(/-/(?:issues|merge_requests|work_items|epics)/)(\d)")


def defuse_references(text: str) -> str:
    """Agent text in a commit message must not close or cross-reference anything: "Fixes #12" closes
    issue 12 when the commit reaches the default branch. A space after the sigil keeps the words
    readable and matches no reference pattern."""
    return _REFERENCE_URL.sub(r"\1 \2", _REFERENCE.sub(r"\1 \2", text))


def _one_line(text: str, limit: int) -> str:
    line = defuse_references(" ".join(text.split()))
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def commit_message(
    ticket_id: str, summary: str, bullets: list[str], batch_id: str, partial: bool, kind: str = "feat"
) -> str:
    room = 72 - len(kind) - len(ticket_id) - 4
    subject = f"{kind}({ticket_id}): {_one_line(summary or 'implement ticket', room)}"
    body = "\n".join(f"- {_one_line(b, 100)}" for b in bullets if b.strip())
    trailers = (
        f"Agent: batch-{batch_date(batch_id)}\n"
        f"Checkpoint: {'C2-partial' if partial else 'C2-complete'}\n"
        "Quality-Score: pending-gates\n"
        f"{BATCH_TRAILER}: {batch_id}"
    )
    return f"{subject}\n\n{body}\n\n{trailers}\n" if body else f"{subject}\n\n{trailers}\n"


def trailers(message: str) -> list[tuple[str, str]]:
    """(key, value) pairs of the message's last paragraph, when every line of it is a trailer."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return []
    found = []
    for line in paragraphs[-1].splitlines():
        key, sep, value = line.partition(": ")
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", key):
            return []
        found.append((key, value.strip()))
    return found


def is_batch_commit(message: str, author_email: str, batch_id: str, bot_email: str) -> bool:
    """Whether a commit is this batch's own: the bot wrote it and its batch trailer names exactly this
    batch (not a substring, not the date)."""
    return author_email == bot_email and (BATCH_TRAILER, batch_id) in trailers(message)
