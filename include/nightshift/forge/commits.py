"""Commit messages in the specification's convention.

feat(PROJ-142): implement user authentication

- Add login endpoint with JWT tokens

Agent: batch-2024-01-15
Checkpoint: C2-complete
Quality-Score: pending-gates
"""

from __future__ import annotations

import re

_DATE = re.compile(r"\A(\d{4}-\d{2}-\d{2})")


def batch_date(batch_id: str) -> str:
    """`2024-01-15-overnight` -> `2024-01-15` (the spec's `Agent: batch-<date>` trailer)."""
    m = _DATE.match(batch_id)
    return m.group(1) if m else batch_id


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
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
        "Quality-Score: pending-gates"
    )
    return f"{subject}\n\n{body}\n\n{trailers}\n" if body else f"{subject}\n\n{trailers}\n"
