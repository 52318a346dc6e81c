"""Where tickets come from: one interface, two implementations.

`TrackerSource` reads any `Tracker` (Jira and GitLab alike: the adapters differ, this path does not);
`FileSource` reads markdown files with YAML front matter (the demo, and teams without a tracker).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nightshift.intake.config import IntakeConfig, TrackerKind, TrackerSourceConfig
from nightshift.intake.mapping import Draft, body_cut, build_record, keys_for, map_issue
from nightshift.intake.records import Held, IntakeRecord, Rejection, TicketRejected
from nightshift.intake.sanitise import sanitise, sanitise_stream
from nightshift.models import check_ticket_id
from nightshift.safe_yaml import UnsafeYamlError, load_yaml_text
from nightshift.trackers.base import Tracker, TrackerIssue

Fetched = IntakeRecord | Rejection | Held
MAX_FRONT_MATTER_BYTES = 64 * 1024


class EscalationAnswer(BaseModel):
    """A human's answer to an escalation, sanitised like any ticket text."""

    text: str
    sanitised: list[str] = Field(default_factory=list)


class TicketSource(abc.ABC):
    """A place tickets come from. `fetch` only reads; `report_not_ready` is the one write."""

    name: str

    @abc.abstractmethod
    def fetch(self) -> Iterator[Fetched]:
        """Every candidate ticket, mapped (or rejected / held, with the reason)."""

    @abc.abstractmethod
    def is_done(self, ticket_id: str) -> bool | None:
        """Whether the ticket is done at its source; None when this source does not know the id."""

    @abc.abstractmethod
    def escalation_answer(self, ticket_id: str, marker: str) -> EscalationAnswer | None:
        """The human's answer written after the escalation comment carrying `marker`, if any."""

    @abc.abstractmethod
    def report_not_ready(self, record: IntakeRecord, *, marker: str, body: str, relabel: bool) -> None:
        """Tell the ticket why it stays out: one comment per `marker`; `relabel` swaps ready for not-ready."""


def _is_own_comment(comment: str) -> bool:
    return "nightshift:batch=" in comment


class TrackerSource(TicketSource):
    """Tickets from a tracker query: JQL on Jira, a label on GitLab. Ids and keys are translated by the
    tracker's key scheme (`trackers.keys`); nothing here knows which tracker it reads."""

    def __init__(
        self,
        tracker: Tracker,
        query: str,
        config: IntakeConfig,
        *,
        kind: TrackerKind,
        name: str | None = None,
        projects: Sequence[str] = (),
    ) -> None:
        self.tracker = tracker
        self.kind = kind
        self.keys = keys_for(kind, config)
        self.query = query
        self.config = config
        self.name = name or tracker.name
        self.projects = list(projects)
        self._issues: dict[str, TrackerIssue] = {}
        self._done: dict[str, bool] = {}

    def fetch(self) -> Iterator[Fetched]:
        for issue in self.tracker.search(self.query):
            if self.config.ready_label not in issue.labels:
                continue  # the query matched more than the ready label: only labelled tickets are candidates
            if issue.done:
                try:
                    ticket_id = self.keys.ticket_id(issue.key, issue.project)
                except ValueError:
                    continue
                self._done[ticket_id] = True
                yield Held(ticket_id=ticket_id, reason="done in the tracker", done=True)
                continue
            try:
                record = map_issue(issue, self.config, self.name)
            except TicketRejected as exc:
                yield Rejection.of(self.name, exc)
                continue
            self._issues[record.id] = issue
            yield record

    def tracker_key_for(self, ticket_id: str) -> str | None:
        """The tracker key of a ticket id, when it belongs to this source (for dependency look-ups)."""
        if ticket_id in self._issues:
            return self._issues[ticket_id].key
        known = {*self.projects, *(i.project for i in self._issues.values())}
        return self.keys.tracker_key(ticket_id, known)

    def is_done(self, ticket_id: str) -> bool | None:
        if ticket_id in self._done:
            return self._done[ticket_id]
        key = self.tracker_key_for(ticket_id)
        if key is None:
            return None
        try:
            done = bool(self.tracker.is_done(key))
        except LookupError:  # TrackerNotFound is one: a dependency on an issue that does not exist
            return None  # named, not fatal; any other TrackerError (the tracker is down) fails the step
        self._done[ticket_id] = done
        return done

    def escalation_answer(self, ticket_id: str, marker: str) -> EscalationAnswer | None:
        key = self.tracker_key_for(ticket_id)
        if key is None:
            return None
        issue = self.tracker.get(key)  # fresh, with comments (a search may not return them)
        last = max((i for i, c in enumerate(issue.comments) if marker in c), default=None)
        if last is None:
            return None
        # TrackerIssue.comments are markdown on every tracker; Nightshift's own comments carry a marker.
        answers = [c for c in issue.comments[last + 1 :] if not _is_own_comment(c) and c.strip()]
        if not answers:
            return None
        clean = sanitise("\n\n".join(answers), self.config.max_body_bytes)
        return EscalationAnswer(text=clean.text, sanitised=clean.report.notes("escalation answer: "))

    def report_not_ready(self, record: IntakeRecord, *, marker: str, body: str, relabel: bool) -> None:
        if record.tracker_key is None:
            raise ValueError(f"ticket {record.id} has no tracker key: it did not come from {self.name}")
        self.tracker.comment_once(record.tracker_key, marker, body)
        if relabel:
            self.tracker.ensure_labels(
                record.tracker_key, add=[self.config.not_ready_label], remove=[self.config.ready_label]
            )


class FrontMatter(BaseModel):
    """The YAML header of a ticket file."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str = ""
    priority: str | None = None
    complexity: str | None = None
    labels: list[str] = Field(default_factory=list)
    repository: str | None = None
    base_branch: str | None = None
    dependencies: list[str] = Field(default_factory=list)
    estimated_files: list[str] | None = None
    url: str | None = None
    #: A finished ticket: not collected, but resolves dependencies on it.
    done: bool = False
    #: The answer to an escalation of an earlier batch (files have no comment thread).
    escalation_answer: str | None = None


class FileSource(TicketSource):
    """Markdown tickets in a folder (`*.md`, not README.md): YAML front matter between `---` lines, then
    the description. Front matter keys are FrontMatter's fields (include/demo/tickets/README.md)."""

    def __init__(self, folder: Path, config: IntakeConfig, *, name: str | None = None) -> None:
        self.folder = folder
        self.config = config
        self.name = name or f"files:{folder}"
        self._front: dict[str, FrontMatter] = {}

    def fetch(self) -> Iterator[Fetched]:
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{self.name}: ticket folder {self.folder} does not exist")
        self._front = {}
        for path in sorted(self.folder.glob("*.md")):
            if not path.is_file() or path.name.lower() == "readme.md":
                continue
            try:
                yield from self._read(path)
            except TicketRejected as exc:
                yield Rejection.of(self.name, exc)

    def _read(self, path: Path) -> Iterator[Fetched]:
        size = path.stat().st_size
        with path.open("rb") as handle:
            header, used = _front_matter(handle, path.name)
            body = sanitise_stream(handle, self.config.max_body_bytes, size=size - used)
        try:
            front = FrontMatter.model_validate(header)
            ticket_id = check_ticket_id(front.id)
            dependencies = [check_ticket_id(d) for d in front.dependencies]
        except (ValidationError, ValueError) as exc:
            raise TicketRejected(path.name, _field_of(exc), _message_of(exc)) from None
        if ticket_id in self._front:
            raise TicketRejected(path.name, "id", f"{ticket_id} is also the id of another file")
        self._front[ticket_id] = front
        if front.done:
            yield Held(ticket_id=ticket_id, reason="marked done in its file", done=True)
            return
        draft = Draft(
            key=path.name,
            ticket_id=ticket_id,
            source="file",
            source_name=self.name,
            title=front.title,
            markdown=body.text,
            sanitised=body.report.notes(),
            cut=body_cut(body.text, body.report),
            project=ticket_id.rsplit("-", 1)[0],
            url=front.url,
            labels=list(front.labels),
            priority=front.priority,
            complexity=front.complexity,
            estimated_files=front.estimated_files,
            dependencies=dependencies,
            repository=front.repository,
            base_branch=front.base_branch,
        )
        yield build_record(draft, self.config)

    def _loaded(self) -> dict[str, FrontMatter]:
        """The folder's front matter, read on first need (a later task has not called fetch)."""
        if not self._front:
            for _ in self.fetch():
                pass
        return self._front

    def is_done(self, ticket_id: str) -> bool | None:
        front = self._loaded().get(ticket_id)
        return None if front is None else front.done

    def escalation_answer(self, ticket_id: str, marker: str) -> EscalationAnswer | None:
        front = self._loaded().get(ticket_id)
        if front is None or not front.escalation_answer or not front.escalation_answer.strip():
            return None
        clean = sanitise(front.escalation_answer, self.config.max_body_bytes)
        return EscalationAnswer(text=clean.text, sanitised=clean.report.notes("escalation answer: "))

    def report_not_ready(self, record: IntakeRecord, *, marker: str, body: str, relabel: bool) -> None:
        """Files have no comment thread: the intake report (validated.json) is where the reason is read."""


def _front_matter(handle: BinaryIO, name: str) -> tuple[dict[str, object], int]:
    """Read the front matter block, at most MAX_FRONT_MATTER_BYTES; return it and the bytes consumed."""
    first = handle.readline(MAX_FRONT_MATTER_BYTES)
    if first.rstrip(b"\r\n") != b"---":
        raise TicketRejected(name, "front matter", "a ticket file starts with a '---' line")
    used = len(first)
    lines: list[bytes] = []
    while True:
        line = handle.readline(MAX_FRONT_MATTER_BYTES - used + 1)
        used += len(line)
        if used > MAX_FRONT_MATTER_BYTES:
            raise TicketRejected(name, "front matter", f"over {MAX_FRONT_MATTER_BYTES} bytes")
        if not line:
            raise TicketRejected(name, "front matter", "no closing '---' line")
        if line.rstrip(b"\r\n") == b"---":
            break
        lines.append(line)
    try:
        data = load_yaml_text(b"".join(lines), source=name, max_bytes=MAX_FRONT_MATTER_BYTES)
    except UnsafeYamlError as exc:
        raise TicketRejected(name, "front matter", str(exc)) from None
    if not isinstance(data, dict):
        raise TicketRejected(name, "front matter", "expected a mapping of fields")
    return data, used


def _field_of(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return ".".join(str(x) for x in exc.errors()[0]["loc"]) or "front matter"
    return "id/dependencies"


def _message_of(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        if err["type"] == "extra_forbidden":
            return "unknown field"
        return str(err["msg"]).removeprefix("Value error, ")
    return str(exc)


def build_sources(
    config: IntakeConfig,
    tracker_for: Callable[[TrackerSourceConfig], Tracker],
    base_dir: Path | None = None,
) -> list[TicketSource]:
    """The configured sources; `tracker_for` makes a Tracker from a source's connection (a hook's job)."""
    sources: list[TicketSource] = []
    for source in config.sources:
        if isinstance(source, TrackerSourceConfig):
            sources.append(
                TrackerSource(
                    tracker_for(source),
                    source.query(config.ready_label),
                    config,
                    kind=source.kind,
                    name=source.display_name,
                    projects=source.projects,
                )
            )
        else:
            sources.append(FileSource(source.path(base_dir), config, name=source.display_name))
    return sources


class DryRunSource(TicketSource):
    """Reads through `inner` and writes nothing: a dry run tells no tracker that a ticket is not ready."""

    def __init__(self, inner: TicketSource) -> None:
        self.inner = inner
        self.name = inner.name
        self.suppressed: list[str] = []

    def fetch(self) -> Iterator[Fetched]:
        return self.inner.fetch()

    def is_done(self, ticket_id: str) -> bool | None:
        return self.inner.is_done(ticket_id)

    def escalation_answer(self, ticket_id: str, marker: str) -> EscalationAnswer | None:
        return self.inner.escalation_answer(ticket_id, marker)

    def report_not_ready(self, record: IntakeRecord, *, marker: str, body: str, relabel: bool) -> None:
        self.suppressed.append(record.id)
