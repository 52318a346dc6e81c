"""Read the ticket given to `gates check --ticket FILE`: a Ticket as JSON or YAML (as the batch stores
it), or a ticket markdown file with front matter (as in a files intake folder)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from nightshift.models import Ticket
from nightshift.safe_yaml import load_yaml_text

MAX_TICKET_BYTES = 1024 * 1024
_FIELDS = set(Ticket.model_fields)


def _section(markdown: str, title: str) -> list[str]:
    items, inside = [], False
    for line in markdown.splitlines():
        heading = re.match(r"\s*#{1,6}\s+(.*)", line)
        if heading:
            inside = heading.group(1).strip().lower() == title
            continue
        bullet = re.match(r"\s*[-*]\s+(?:\[[ xX]\]\s*)?(.*)", line)
        if inside and bullet and bullet.group(1).strip():
            items.append(bullet.group(1).strip())
    return items


def load_ticket_file(path: Path) -> Ticket:
    data = path.read_bytes()
    if len(data) > MAX_TICKET_BYTES:
        raise ValueError(f"{path}: over {MAX_TICKET_BYTES} bytes")
    text = data.decode("utf-8", errors="replace")
    try:
        if text.startswith("---"):
            _, front, body = text.split("---", 2)
            fields = load_yaml_text(front, source=str(path)) or {}
            if not isinstance(fields, dict):
                raise ValueError("the front matter is not a mapping")
            fields = {k: v for k, v in fields.items() if k in _FIELDS}
            fields.setdefault("description", body.strip())
            fields.setdefault("acceptance_criteria", _section(body, "acceptance criteria"))
            fields.setdefault("test_cases", _section(body, "test cases"))
            return Ticket.model_validate(fields)
        loaded = load_yaml_text(text, source=str(path))  # JSON is YAML
        return Ticket.model_validate(loaded)
    except (ValidationError, ValueError) as exc:
        raise ValueError(f"{path}: not a ticket: {exc}") from None
