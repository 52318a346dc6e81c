"""Follow-up ticket files: the remainder of a partial result, for tickets that came from a folder.

A tracker creates the follow-up of a partial ticket itself (Tracker.create_followup_once). A file ticket
has no tracker, so the follow-up is a new ticket file, written into the configured outbox folder
(`intake.followup_folder`) or next to the source folder's tickets. It is written once per marker:

- its name is fixed by the original ticket and the batch (`<ID>.followup.<batch>.md`), so a re-run finds
  it again and returns the same id instead of writing a second file;
- it is written to a temporary file and hard-linked into place (`os.link` fails when the name exists),
  so two writers racing each other leave exactly one file, complete or absent, never half of one;
- its id takes the original's key and the next number free among the ticket files of the folders
  given (the source folder and the outbox), and its front matter leaves the readiness checklist
  unticked: the remainder is the agent's account, so a human confirms it before an agent runs it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from nightshift.artifacts import _SAFE_PART, write_text_atomic
from nightshift.models import TICKET_ID, check_ticket_id
from nightshift.trackers.base import hidden_marker

_ID_LINE = re.compile(rf"^id:\s*['\"]?(?P<id>{TICKET_ID})['\"]?\s*$".encode(), re.MULTILINE)
_HEAD_BYTES = 64 * 1024


class FollowupFile(BaseModel):
    """`tickets/<ID>/followup.json`: the follow-up of a partial ticket, once it exists (any tracker)."""

    model_config = ConfigDict(extra="forbid")

    ticket_id: str
    key: str  # the follow-up's tracker key, or its ticket id for a file
    path: str | None = None  # the follow-up file, for file tickets


class FollowupError(RuntimeError):
    """The follow-up file cannot be written or read back; names the ticket and the path."""


def followup_name(ticket_id: str, batch_id: str) -> str:
    """`<ID>.followup.<batch>.md`: fixed by the original and the batch, so a re-run finds it."""
    name = f"{check_ticket_id(ticket_id)}.followup.{batch_id}.md"
    if not _SAFE_PART.match(name):
        raise FollowupError(f"ticket {ticket_id}: batch id {batch_id!r} makes no safe file name")
    return name


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_HEAD_BYTES)
    except OSError:
        return b""


def _file_id(head: bytes) -> str | None:
    """The `id:` of a ticket file's front matter (read from its first bytes only)."""
    if not head.startswith(b"---"):
        return None
    end = head.find(b"\n---", 3)
    match = _ID_LINE.search(head[: end if end > 0 else len(head)])
    return match.group("id").decode() if match else None


def _next_id(prefix: str, folders: Iterable[Path]) -> str:
    highest = 0
    for folder in folders:
        for path in folder.glob("*.md") if folder.is_dir() else ():
            found = _file_id(_head(path))
            if found is not None and found.rsplit("-", 1)[0] == prefix:
                highest = max(highest, int(found.rsplit("-", 1)[1]))
    return check_ticket_id(f"{prefix}-{highest + 1}")


def followup_text(
    followup_id: str,
    *,
    original_id: str,
    title: str,
    body: str,
    marker: str,
    priority: str | None = None,
    repository: str | None = None,
    base_branch: str | None = None,
) -> str:
    """The follow-up ticket file: front matter, the guarded body, and an unticked readiness checklist."""
    front: dict[str, object] = {"id": followup_id, "title": title}
    front |= {k: v for k, v in (("priority", priority), ("repository", repository)) if v}
    if base_branch:
        front["base_branch"] = base_branch
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=10_000)
    return (
        f"---\n{header}---\n{hidden_marker(marker)}\n\n{body}\n\n"
        "## Agent Readiness\n"
        f"- [ ] Acceptance criteria clear (a human confirms the remainder of {original_id} above)\n"
        "- [x] No open questions\n"
        "- [x] Dependencies: none\n"
    )


def write_followup_file(
    outbox: Path,
    *,
    original_id: str,
    batch_id: str,
    title: str,
    body: str,
    marker: str,
    scan: Sequence[Path] = (),
    priority: str | None = None,
    repository: str | None = None,
    base_branch: str | None = None,
) -> FollowupFile:
    """Write the follow-up of `original_id` into `outbox` once; return it (the existing one on a re-run).

    `scan` are the other folders whose ticket ids the new id must not take (the source folder).
    """
    path = outbox / followup_name(original_id, batch_id)
    existing = _existing(path, original_id, marker)
    if existing is not None:
        return existing
    try:
        outbox.mkdir(parents=True, exist_ok=True)
        new_id = _next_id(original_id.rsplit("-", 1)[0], [outbox, *scan])
        text = followup_text(
            new_id,
            original_id=original_id,
            title=title,
            body=body,
            marker=marker,
            priority=priority,
            repository=repository,
            base_branch=base_branch,
        )
        try:
            write_text_atomic(path, text, overwrite=False)
        except FileExistsError:
            pass  # another writer got there first: theirs stands
    except OSError as exc:
        raise FollowupError(f"ticket {original_id}: cannot write the follow-up {path}: {exc}") from None
    found = _existing(path, original_id, marker)
    if found is None:
        raise FollowupError(f"ticket {original_id}: the follow-up {path} does not read back")
    return found


def _existing(path: Path, original_id: str, marker: str) -> FollowupFile | None:
    if not path.exists():
        return None
    head = _head(path)
    found = _file_id(head)
    if found is None or hidden_marker(marker).encode() not in head:
        raise FollowupError(
            f"ticket {original_id}: {path} exists but is not its follow-up (no id or marker): "
            "move it away and re-run"
        )
    return FollowupFile(ticket_id=original_id, key=found, path=str(path))
