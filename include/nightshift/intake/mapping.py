"""Field mapping: a tracker issue (or a ticket file) becomes a validated Ticket and its intake record.

One path for every source: `map_issue` asks the tracker's key scheme (`trackers.keys`) for what differs
between Jira and GitLab (ids, the issue's own repository), `build_record` does everything else (sections,
checklist, priority, complexity, dependencies), and `FileSource` calls `build_record` too. Text is
converted to markdown, then sanitised, then parsed, so hidden text can neither reach the agent nor smuggle
a dependency or a checklist tick.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from nightshift.intake.config import IntakeConfig, check_branch
from nightshift.intake.records import BodyCut, IntakeRecord, TicketRejected
from nightshift.intake.sanitise import TRUNCATION_NOTE, SanitiseReport, sanitise
from nightshift.intake.text import ConversionError, to_markdown
from nightshift.models import Complexity, Priority, Ticket, TicketSource, check_repo_glob
from nightshift.readiness import ReadinessChecklist, parse_checklist, section_items
from nightshift.trackers.base import TrackerIssue
from nightshift.trackers.keys import KeyScheme, check_gitlab_path, key_scheme

MAX_TITLE_BYTES = 512
MAX_LABEL_BYTES = 255
#: An ADF (JSON) body must be parsed whole before it can be cut: refuse one over this multiple of the cap.
ADF_RAW_FACTOR = 16

_NONE_ITEM = re.compile(r"\A(?:none|n/?a|no|nothing|-+)\.?\Z", re.IGNORECASE)
_URL = re.compile(r"\Ahttps?://[^\s<>\"']+\Z")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(?P<title>.+?)\s*#*\s*$")

ACCEPTANCE_TITLES = ("acceptance criteria", "acceptance")
QUESTION_TITLES = ("open questions", "blocking questions", "questions")
TEST_TITLES = ("test cases", "tests", "test plan")


@dataclass
class Draft:
    """What a source knows about a ticket before the shared mapping: raw values, still untrusted."""

    key: str  # the key to name in a rejection (tracker key, or a file name)
    ticket_id: str
    source: TicketSource
    source_name: str
    title: str
    markdown: str  # already sanitised
    sanitised: list[str] = field(default_factory=list)
    project: str | None = None  # routing: Jira project key, GitLab project path, or a file ticket's prefix
    tracker_key: str | None = None
    url: str | None = None
    labels: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    priority: str | None = None
    complexity: object = None  # a custom field's value or a front-matter value
    estimated_files: list[str] | None = None
    dependencies: list[str] = field(default_factory=list)
    done_dependencies: list[str] = field(default_factory=list)
    repository: str | None = None  # set: a fixed repository (GitLab's own project, or front matter)
    base_branch: str | None = None
    route: bool = True  # False: `repository` is the issue's own project, not subject to routing rules
    keys: KeyScheme | None = None  # the tracker's naming rules (None: a ticket file)
    warnings: list[str] = field(default_factory=list)
    cut: BodyCut | None = None  # where the sanitiser cut the description, if it did


def body_cut(text: str, report: SanitiseReport, original: str | None = None) -> BodyCut | None:
    """Where a sanitised description was cut (None when it was not): its kept lines and last heading."""
    if report.truncated_at is None:
        return None
    if original is None and report.original_bytes:
        original = f"{report.original_bytes} bytes"
    elif original is None and report.original_chars:
        original = f"{report.original_chars} characters"
    kept = text.rsplit(TRUNCATION_NOTE.format(limit=report.truncated_at), 1)[0].rstrip("\n")
    headings = [m.group("title") for line in kept.splitlines() if (m := _HEADING.match(line))]
    return BodyCut(
        limit_bytes=report.truncated_at,
        original=original,
        kept_lines=len(kept.splitlines()),
        last_heading=" ".join(headings[-1].split()) if headings else None,
    )


# -- ids ---------------------------------------------------------------------------------------------


def keys_for(tracker: str, config: IntakeConfig) -> KeyScheme:
    """The naming rules of a tracker kind, with the configured GitLab prefixes."""
    return key_scheme(tracker, config.gitlab_key_prefixes)


def ticket_id_for_key(key: str, tracker: str, project: str, config: IntakeConfig) -> str:
    """The strict ticket id for a tracker key; raises ValueError when it cannot be made safe.

    The tracker's key scheme decides: Jira keys are ids already; GitLab references (`group/app#12`, or
    `#12` within `project`) become `<prefix>-<iid>`.
    """
    return keys_for(tracker, config).ticket_id(key, project)


def shown(value: str) -> str:
    return value if value.isascii() and value.isprintable() and len(value) <= 200 else ascii(value[:200])


# -- priority and complexity ---------------------------------------------------------------------------


def map_priority(draft: Draft, config: IntakeConfig) -> Priority:
    """The tracker's priority name, else a `priority::` label, through the priority table."""
    table = config.fields.priorities
    name = draft.priority
    if name is None:
        prefix = config.fields.priority_label_prefix.lower()
        name = next((lab[len(prefix) :] for lab in draft.labels if lab.lower().startswith(prefix)), None)
    if name is not None and name.strip().lower() in table:
        return table[name.strip().lower()]
    default = config.fields.default_priority
    if default is None:
        reason = "no priority set" if name is None else f"unknown priority {shown(name)}"
        raise TicketRejected(draft.key, "priority", f"{reason} and no default_priority configured")
    if name is not None:
        draft.warnings.append(f"unknown priority {shown(name)}: {default} assumed")
    return default


def _complexity_word(value: object, config: IntakeConfig) -> str | None:
    if isinstance(value, Mapping):  # a Jira select field: {"value": "Small", ...}
        value = value.get("value") or value.get("name")
    if value is None or value == "":
        return None
    return str(value).strip().lower()


def map_complexity(draft: Draft, checklist: ReadinessChecklist, config: IntakeConfig) -> Complexity | None:
    """Explicit value (custom field or front matter), else a `complexity::` label, else the checklist."""
    values = config.fields.complexity_values
    word = _complexity_word(draft.complexity, config)
    if word is not None:
        if word in values:
            return values[word]
        draft.warnings.append(f"unknown complexity {shown(word)} ignored")
    prefix = config.fields.complexity_label_prefix.lower()
    for label in draft.labels:
        if label.lower().startswith(prefix):
            word = label[len(prefix) :].strip().lower()
            if word in values:
                return values[word]
            draft.warnings.append(f"unknown complexity label {shown(label)} ignored")
    return checklist.complexity


# -- repository ----------------------------------------------------------------------------------------


def route(draft: Draft, config: IntakeConfig) -> tuple[str, str]:
    """(repository, base_branch) for a ticket; raises TicketRejected when nothing routes it."""
    routing = config.routing
    try:
        if draft.repository is not None:
            repository = check_gitlab_path(draft.repository)
            default_branch = routing.base_branches.get(repository, routing.default_base_branch)
            return repository, check_branch(draft.base_branch or default_branch)
    except ValueError as exc:
        raise TicketRejected(draft.key, "repository", str(exc)) from None
    if draft.route:
        for rule in routing.rules:
            if rule.project is not None and rule.project != draft.project:
                continue
            if rule.component is not None and rule.component not in draft.components:
                continue
            if rule.label is not None and rule.label not in draft.labels:
                continue
            return rule.repository, rule.base_branch or routing.default_base_branch
    if routing.default_repository is not None:
        return routing.default_repository, routing.default_base_branch
    raise TicketRejected(
        draft.key,
        "repository",
        "no routing rule matches its project, components or labels and no default_repository is configured",
    )


# -- the shared mapping --------------------------------------------------------------------------------


def _items(markdown: str, titles: Sequence[str]) -> list[str]:
    return [item for item in section_items(markdown, *titles) if not _NONE_ITEM.match(item.strip())]


def _unique(values: Iterable[str], exclude: str) -> list[str]:
    out: list[str] = []
    for value in values:
        if value != exclude and value not in out:
            out.append(value)
    return out


def _files(draft: Draft, checklist: ReadinessChecklist) -> list[str]:
    files = draft.estimated_files if draft.estimated_files is not None else (checklist.estimated_files or [])
    kept = []
    for pattern in files:
        try:
            kept.append(check_repo_glob(pattern))
        except ValueError as exc:
            draft.warnings.append(f"estimated file dropped: {exc}")
    return kept


def _clean_labels(labels: Iterable[str]) -> list[str]:
    out = []
    for label in labels:
        clean = sanitise(str(label), MAX_LABEL_BYTES, single_line=True).text
        if clean and clean not in out:
            out.append(clean)
    return out


def build_record(draft: Draft, config: IntakeConfig) -> IntakeRecord:
    """The shared mapping of every source: sections, checklist, fields, routing, validation."""
    draft.labels = _clean_labels(draft.labels)
    draft.components = _clean_labels(draft.components)
    markdown = draft.markdown
    checklist = parse_checklist(markdown)
    title = sanitise(draft.title, MAX_TITLE_BYTES, single_line=True)
    sanitised = [*title.report.notes("title: "), *draft.sanitised]
    priority = map_priority(draft, config)
    complexity = map_complexity(draft, checklist, config)
    repository, base_branch = route(draft, config)
    dependencies = list(draft.dependencies) + list(checklist.dependencies or [])
    for ref in checklist.dependency_refs or []:
        if draft.keys is not None and draft.keys.text_references and draft.project:
            try:
                dependencies.append(draft.keys.ticket_id(ref, draft.project))
            except ValueError as exc:
                draft.warnings.append(f"dependency reference {shown(ref)} ignored: {exc}")
    url = draft.url
    if url is not None and not _URL.match(url):
        draft.warnings.append("issue URL dropped: not an http(s) URL")
        url = None
    try:
        ticket = Ticket(
            id=draft.ticket_id,
            title=title.text,
            description=markdown,
            priority=priority,
            complexity=complexity,
            estimated_files=_files(draft, checklist),
            dependencies=_unique(dependencies, draft.ticket_id),
            acceptance_criteria=_items(markdown, ACCEPTANCE_TITLES),
            open_questions=_items(markdown, QUESTION_TITLES),
            test_cases=_items(markdown, TEST_TITLES),
            source=draft.source,
            url=url,
            labels=draft.labels,
            repository=repository,
            base_branch=base_branch,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "ticket"
        raise TicketRejected(draft.key, where, err["msg"].removeprefix("Value error, ")) from None
    return IntakeRecord(
        ticket=ticket,
        source=draft.source_name,
        tracker_key=draft.tracker_key,
        checklist=checklist,
        warnings=list(draft.warnings),
        sanitised=sanitised,
        done_dependencies=_unique(draft.done_dependencies, draft.ticket_id),
        cut=draft.cut,
    )


def issue_markdown(issue: TrackerIssue, max_bytes: int) -> tuple[str, list[str], BodyCut | None]:
    """The issue's description as sanitised markdown, and the sanitiser's notes.

    Text formats are cut before conversion (a few times the cap, so the sanitiser still sees the cut);
    ADF must be parsed whole, so an ADF body over ADF_RAW_FACTOR times the cap is refused.
    """
    raw = issue.description
    if issue.description_format == "adf":
        if len(raw) > ADF_RAW_FACTOR * max_bytes:
            limit = ADF_RAW_FACTOR * max_bytes
            reason = f"ADF body of {len(raw)} characters is over {limit}"
            raise TicketRejected(issue.key, "description", reason)
    else:
        raw = raw[: 2 * max_bytes + 1]
    try:
        markdown = to_markdown(raw, issue.description_format)
    except ConversionError as exc:
        raise TicketRejected(issue.key, "description", str(exc)) from None
    clean = sanitise(markdown, max_bytes)
    original = f"{len(issue.description)} characters"
    return clean.text, clean.report.notes(), body_cut(clean.text, clean.report, original)


def map_issue(issue: TrackerIssue, config: IntakeConfig, source_name: str) -> IntakeRecord:
    """A tracker issue (Jira or GitLab) as an intake record; raises TicketRejected naming the field."""
    keys = keys_for(issue.tracker, config)
    try:
        ticket_id = keys.ticket_id(issue.key, issue.project)
    except ValueError as exc:
        raise TicketRejected(issue.key, "id", str(exc)) from None
    markdown, notes, cut = issue_markdown(issue, config.max_body_bytes)
    draft = Draft(
        key=issue.key,
        ticket_id=ticket_id,
        source=issue.tracker,
        source_name=source_name,
        title=issue.title,
        markdown=markdown,
        sanitised=notes,
        cut=cut,
        project=issue.project,
        tracker_key=issue.key,
        url=issue.url,
        labels=list(issue.labels),
        components=list(issue.components),
        priority=issue.priority,
        keys=keys,
    )
    if config.fields.complexity_field:
        draft.complexity = issue.custom_fields.get(config.fields.complexity_field)
    own_repository = keys.repository(issue.project)
    if own_repository is not None:
        draft.repository, draft.route = own_repository, False
    warning = keys.id_warning(issue.project)
    if warning is not None:
        draft.warnings.append(warning)
    for link in issue.links:
        if link.kind != "is_blocked_by":
            continue
        try:
            dep = keys.ticket_id(link.key, issue.project)
        except ValueError as exc:
            if link.done:
                continue  # a finished blocker needs no id
            reason = f"blocked by an issue intake cannot name: {exc}"
            raise TicketRejected(issue.key, "links", reason) from None
        draft.dependencies.append(dep)
        if link.done:
            draft.done_dependencies.append(dep)
    return build_record(draft, config)
