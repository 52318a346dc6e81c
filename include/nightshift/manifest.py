"""The batch manifest: strict loading that reports every problem at once, and a stable YAML dump.

A problem names the ticket and the field, so that an operator can fix a manifest in one pass.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from nightshift.artifacts import write_text_atomic
from nightshift.graph import find_cycles, format_cycle
from nightshift.models import BatchConfig, BatchManifest, ManifestTicket
from nightshift.safe_yaml import UnsafeYamlError, load_yaml_file, load_yaml_text


class ManifestProblem(BaseModel):
    """One thing wrong with a manifest."""

    ticket: str | None = None
    field: str
    message: str

    def __str__(self) -> str:
        # An id that failed validation may hold bidi or control characters: show it escaped.
        shown = (
            self.ticket
            if self.ticket is None or (self.ticket.isascii() and self.ticket.isprintable())
            else ascii(self.ticket)
        )
        where = f"ticket {shown}: " if shown else ""
        return f"{where}{self.field}: {self.message}"


class ManifestError(ValueError):
    """A manifest that cannot be used; `problems` lists every reason."""

    def __init__(self, problems: list[ManifestProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _pydantic_problems(exc: ValidationError, ticket: str | None, prefix: str = "") -> list[ManifestProblem]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "manifest"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "literal_error":
            msg = f"{err.get('input')!r} is not allowed: {msg}"
        out.append(ManifestProblem(ticket=ticket, field=field, message=msg))
    return out


def validate_manifest_data(data: Any) -> tuple[BatchManifest | None, list[ManifestProblem]]:
    """Validate parsed YAML. Returns the manifest when there is no problem, and every problem found."""
    if not isinstance(data, dict):
        return None, [ManifestProblem(field="manifest", message="expected a mapping at the top level")]
    problems: list[ManifestProblem] = []

    config: BatchConfig | None = None
    try:
        config = BatchConfig.model_validate(data.get("config") or {})
    except ValidationError as exc:
        problems += _pydantic_problems(exc, None, "config.")

    raw_tickets = data.get("tickets") or []
    if not isinstance(raw_tickets, list):
        problems.append(ManifestProblem(field="tickets", message="expected a list of tickets"))
        raw_tickets = []
    tickets: list[ManifestTicket] = []
    for index, raw in enumerate(raw_tickets):
        label = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{index + 1}"
        if not isinstance(raw, dict):
            problems.append(ManifestProblem(ticket=label, field="ticket", message="expected a mapping"))
            continue
        try:
            tickets.append(ManifestTicket.model_validate(raw))
        except ValidationError as exc:
            problems += _pydantic_problems(exc, label)

    header = {k: v for k, v in data.items() if k != "tickets"}
    header["config"] = {}
    try:
        BatchManifest.model_validate(header)
    except ValidationError as exc:
        problems += [p for p in _pydantic_problems(exc, None) if not p.field.startswith("config")]

    # Cross-ticket checks run on the raw ids, so that one bad field does not hide a cycle.
    graph_entries = [
        (raw["id"], [d for d in (raw.get("dependencies") or []) if isinstance(d, str)])
        for raw in raw_tickets
        if isinstance(raw, dict)
        and isinstance(raw.get("id"), str)
        and isinstance(raw.get("dependencies") or [], list)
    ]
    counts = Counter(ticket_id for ticket_id, _ in graph_entries)
    for ticket_id, n in sorted(counts.items()):
        if n > 1:
            problems.append(
                ManifestProblem(ticket=ticket_id, field="id", message=f"duplicate id ({n} tickets)")
            )
    for ticket_id, deps in graph_entries:
        for dep in deps:
            if dep not in counts:
                problems.append(
                    ManifestProblem(
                        ticket=ticket_id, field="dependencies", message=f"unknown dependency {dep}"
                    )
                )
    graph: dict[str, list[str]] = {}
    for ticket_id, deps in graph_entries:
        graph.setdefault(ticket_id, []).extend(deps)
    for cycle in find_cycles(graph):
        problems.append(
            ManifestProblem(
                ticket=cycle[0], field="dependencies", message=f"dependency cycle {format_cycle(cycle)}"
            )
        )
    if config is not None and len(raw_tickets) > config.max_tickets:
        problems.append(
            ManifestProblem(
                field="tickets",
                message=f"{len(raw_tickets)} tickets is more than config.max_tickets ({config.max_tickets})",
            )
        )
    if problems:
        return None, problems
    return BatchManifest.model_validate(data), []


def parse_manifest(text: bytes | str, source: str = "<manifest>") -> BatchManifest:
    """Parse and validate manifest YAML; raise ManifestError listing every problem."""
    try:
        data = load_yaml_text(text, source=source)
    except UnsafeYamlError as exc:
        raise ManifestError([ManifestProblem(field="manifest", message=str(exc))]) from None
    manifest, problems = validate_manifest_data(data)
    if manifest is None:
        raise ManifestError(problems)
    return manifest


def load_manifest(path: Path) -> BatchManifest:
    try:
        data = load_yaml_file(path)
    except UnsafeYamlError as exc:
        raise ManifestError([ManifestProblem(field="manifest", message=str(exc))]) from None
    except OSError as exc:
        raise ManifestError([ManifestProblem(field="manifest", message=f"{path}: {exc.strerror}")]) from None
    manifest, problems = validate_manifest_data(data)
    if manifest is None:
        raise ManifestError(problems)
    return manifest


_CORE_TICKET_FIELDS = ("id", "priority", "complexity", "estimated_files", "dependencies")


def manifest_to_dict(manifest: BatchManifest) -> dict[str, Any]:
    """The spec's key order; intake's optional records only where they hold something."""
    tickets = []
    for t in manifest.tickets:
        entry = {k: getattr(t, k) for k in _CORE_TICKET_FIELDS}
        for key, value in t.model_dump(exclude=set(_CORE_TICKET_FIELDS)).items():
            if value not in (None, [], ""):
                entry[key] = value
        tickets.append(entry)
    return {
        "batch_id": manifest.batch_id,
        "created_at": manifest.created_at,
        "config": manifest.config.model_dump(),
        "tickets": tickets,
        "status": manifest.status.value,
    }


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Quote ids and timestamps the way the spec writes them; plain words stay plain.
    style = '"' if any(c in value for c in ":-*/ ") or value[:1].isdigit() else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)
_Dumper.ignore_aliases = lambda self, data: True  # type: ignore[method-assign]


def dump_manifest(manifest: BatchManifest) -> str:
    return yaml.dump(
        manifest_to_dict(manifest), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
    )


def save_manifest(manifest: BatchManifest, path: Path) -> None:
    write_text_atomic(path, dump_manifest(manifest))
