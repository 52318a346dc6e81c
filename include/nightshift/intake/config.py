"""The `intake:` section of nightshift.yaml: where tickets come from and how their fields map.

A source is one model per kind (`FilesSourceConfig`, `JiraSourceConfig`, `GitLabSourceConfig`, a pydantic
union tagged by `kind`), each with its own fields, defaults and query: shared code asks the source, never
its kind. Everything is validated when the config is loaded, so a bad label, JQL or routing rule is reported
before intake touches any ticket (the tracker's own verdict on a JQL arrives as TrackerConfigError
from the first, read-only search).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from nightshift.models import Complexity, Priority
from nightshift.safe_yaml import UnsafeYamlError, load_yaml_file, load_yaml_text
from nightshift.trackers.keys import KeyScheme, check_gitlab_path, is_ticket_prefix, key_scheme

DEFAULT_READY_LABEL = "ready-for-agent"
DEFAULT_NOT_READY_LABEL = "agent-not-ready"
DEFAULT_PARTIAL_LABEL = "agent-partial"
DEFAULT_JQL_TEMPLATE = 'labels = "{label}" AND statusCategory != Done ORDER BY priority DESC, key ASC'
DEFAULT_MAX_BODY_BYTES = 64 * 1024

SourceKind = Literal["jira", "gitlab", "files"]
TrackerKind = Literal["jira", "gitlab"]

DEFAULT_PRIORITIES: dict[str, Priority] = {
    "highest": "high",
    "high": "high",
    "blocker": "high",
    "critical": "high",
    "medium": "medium",
    "major": "medium",
    "low": "low",
    "lowest": "low",
    "minor": "low",
    "trivial": "low",
}
DEFAULT_COMPLEXITIES: dict[str, Complexity] = {
    "small": "small",
    "s": "small",
    "xs": "small",
    "medium": "medium",
    "m": "medium",
    "large": "large",
    "l": "large",
    "xl": "large",
}

#: An Airflow connection id as Nightshift accepts one (ASCII letters, digits, `_`, `.`, `-`): the one rule,
#: for the configuration and for the operators' `gitlab_conn_id=` / `jira_conn_id=`.
CONNECTION_ID = re.compile(r"\A[A-Za-z0-9_.-]{1,250}\Z")
_BRANCH = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}\Z")
_ORDER_BY = re.compile(r"\s+ORDER\s+BY\s+", re.IGNORECASE)


def check_branch(value: str) -> str:
    """A base branch name safe to pass to git (no '..', no leading '-', ASCII only)."""
    if not _BRANCH.match(value) or ".." in value or "//" in value or value.endswith((".lock", "/", ".")):
        raise ValueError(f"{value!r} is not a usable branch name")
    return value


def check_label(value: str) -> str:
    """Labels are written to trackers and matched exactly: non-empty, no commas or control characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a label cannot be empty")
    if value != value.strip() or "," in value or any(ord(c) < 32 or c == "\x7f" for c in value):
        raise ValueError(f"{value!r} is not a usable label (no edge spaces, commas or control characters)")
    if len(value) > 255:
        raise ValueError("a label is at most 255 characters")
    return value


def _check_jql(jql: str) -> str:
    if not jql.strip():
        raise ValueError("the JQL is empty")
    if any(ord(c) < 32 and c not in "\t\n" for c in jql):
        raise ValueError("the JQL contains control characters")
    if jql.count('"') % 2:
        raise ValueError("the JQL has an unbalanced double quote")
    if len(jql) > 4000:
        raise ValueError("the JQL is over 4000 characters")
    return jql


# -- sources: one model per kind -------------------------------------------------------------------------


class _Source(BaseModel, abc.ABC):
    """What every source has: a kind (the union's tag) and a name used in reports."""

    model_config = ConfigDict(extra="forbid")

    kind: SourceKind
    name: str | None = Field(default=None, description="unique name used in reports; derived when absent")

    @model_validator(mode="before")
    @classmethod
    def _no_foreign_fields(cls, data: Any) -> Any:
        """A field of another kind (a `jql` on a GitLab source) is named with the kind it belongs to,
        rather than as a bare unknown input."""
        if not isinstance(data, dict):
            return data
        foreign = [key for key in data if key not in cls.model_fields and key in _FIELD_KINDS]
        if foreign:
            kind = cls.model_fields["kind"].default
            own = ", ".join(f for f in cls.model_fields if f not in ("kind", "name"))
            whose = "; ".join(f"{key} is for kind {' or '.join(_FIELD_KINDS[key])}" for key in foreign)
            raise ValueError(
                f"source {cls._shown_name(data)!r}: a {kind} source takes only {own} (and name), "
                f"not {', '.join(foreign)} ({whose})"
            )
        return data

    @classmethod
    def _shown_name(cls, data: dict[str, Any]) -> str:
        return str(data.get("name") or f"{cls.model_fields['kind'].default}:{cls._where(data)}")

    @staticmethod
    def _where(data: dict[str, Any]) -> Any:
        """What tells two unnamed sources of one kind apart (the connection, or the folder)."""
        return data.get("connection_id")

    @property
    def display_name(self) -> str:
        return self.name or f"{self.kind}:{self._where(self.__dict__)}"

    def with_defaults(self, ready_label: str) -> Self:
        """The source with what it leaves open filled from the intake section (the ready label)."""
        return self


class FilesSourceConfig(_Source):
    """A folder of markdown tickets with YAML front matter (the demo, and teams without a tracker)."""

    kind: Literal["files"] = "files"
    folder: str | None = Field(default=None, description="folder of markdown tickets")

    @staticmethod
    def _where(data: dict[str, Any]) -> Any:
        return data.get("folder")

    @model_validator(mode="after")
    def _has_folder(self) -> FilesSourceConfig:
        if not self.folder:
            raise ValueError("a files source needs folder")
        return self

    def path(self, base_dir: Path | None = None) -> Path:
        """The folder; a relative one is taken relative to `base_dir` when given."""
        folder = Path(self.folder or "")
        return base_dir / folder if base_dir is not None and not folder.is_absolute() else folder


class TrackerSourceConfig(_Source):
    """A tracker search over an Airflow connection. Each tracker's model says how it queries; its key
    scheme (`trackers.keys`) says what a project is and how keys become ticket ids."""

    kind: TrackerKind
    connection_id: str | None = Field(default=None, description="Airflow connection id")
    projects: list[str] = Field(default_factory=list, description="the tracker projects searched")

    @model_validator(mode="after")
    def _connection_and_projects(self) -> TrackerSourceConfig:
        problems = []
        if not self.connection_id:
            problems.append(f"a {self.kind} source needs connection_id")
        elif not CONNECTION_ID.match(self.connection_id):
            problems.append(f"connection_id {self.connection_id!r} is not a valid connection id")
        scheme = self.scheme()
        for project in self.projects:
            try:
                scheme.check_project(project)
            except ValueError as exc:
                problems.append(f"projects: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def scheme(self, gitlab_prefixes: Mapping[str, str] | None = None) -> KeyScheme:
        """This tracker's naming rules, with the configured GitLab prefixes."""
        return key_scheme(self.kind, gitlab_prefixes)

    @abc.abstractmethod
    def query(self, ready_label: str) -> str:
        """The tracker query that finds this source's candidate tickets."""


class JiraSourceConfig(TrackerSourceConfig):
    """A JQL search, by default every open issue carrying the ready label, restricted to `projects`
    (Jira project keys) when given."""

    kind: Literal["jira"] = "jira"
    jql: str | None = Field(default=None, description="the search; default from the ready label")

    @field_validator("jql")
    @classmethod
    def _jql(cls, value: str | None) -> str | None:
        return None if value is None else _check_jql(value)

    def with_defaults(self, ready_label: str) -> Self:
        if self.jql is not None:
            return self
        return self.model_copy(update={"jql": DEFAULT_JQL_TEMPLATE.format(label=ready_label)})

    def query(self, ready_label: str) -> str:
        """Its JQL (the default one from the ready label when unset), restricted to `projects`."""
        jql = self.jql or DEFAULT_JQL_TEMPLATE.format(label=ready_label)
        if not self.projects:
            return jql
        where, order_by, order = _split_order_by(jql)
        projects = ", ".join(f'"{p}"' for p in self.projects)
        query = f"project in ({projects})" + (f" AND ({where})" if where.strip() else "")
        return query + (f" ORDER BY {order}" if order_by else "")


class GitLabSourceConfig(TrackerSourceConfig):
    """GitLab issues carrying a label (by default the ready label) in `projects` (project paths)."""

    kind: Literal["gitlab"] = "gitlab"
    label: str | None = Field(default=None, description="the label searched; default the ready label")

    @field_validator("label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        return None if value is None else check_label(value)

    def with_defaults(self, ready_label: str) -> Self:
        return self if self.label is not None else self.model_copy(update={"label": ready_label})

    def query(self, ready_label: str) -> str:
        """Its label: GitLab's issue search is by label."""
        return self.label or ready_label


#: One place tickets come from; `kind` picks the model (and a wrong field is named with its kind).
SourceConfig = Annotated[
    Annotated[FilesSourceConfig, Tag("files")]
    | Annotated[JiraSourceConfig, Tag("jira")]
    | Annotated[GitLabSourceConfig, Tag("gitlab")],
    Discriminator(
        lambda data: data.get("kind") if isinstance(data, dict) else getattr(data, "kind", None),
        custom_error_type="source_kind",
        custom_error_message="a source needs kind: files, jira or gitlab",
    ),
]
_SOURCE_MODELS: tuple[type[_Source], ...] = (FilesSourceConfig, JiraSourceConfig, GitLabSourceConfig)
#: Field -> the kinds that have it (for naming a field given to the wrong kind).
_FIELD_KINDS: dict[str, list[str]] = {}
for _model in _SOURCE_MODELS:
    for _field in _model.model_fields:
        _FIELD_KINDS.setdefault(_field, []).append(str(_model.model_fields["kind"].default))


def _split_order_by(jql: str) -> tuple[str, bool, str]:
    parts = _ORDER_BY.split(jql, maxsplit=1)
    if len(parts) == 2:
        return parts[0], True, parts[1]
    if jql.strip().upper().startswith("ORDER BY "):
        return "", True, jql.strip()[len("ORDER BY ") :]
    return jql, False, ""


class FieldMapping(BaseModel):
    """How tracker fields become a Ticket's priority and complexity."""

    model_config = ConfigDict(extra="forbid")

    #: Tracker priority names (any case) -> Nightshift priority. GitLab `priority::<name>` labels use it too.
    priorities: dict[str, Priority] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    #: Used when a ticket has no priority, or one not in `priorities` (with a warning). None: reject it.
    default_priority: Priority | None = "medium"
    priority_label_prefix: str = "priority::"
    #: A tracker custom field holding the complexity (Jira field id or name, e.g. customfield_10042).
    complexity_field: str | None = None
    complexity_label_prefix: str = "complexity::"
    complexity_values: dict[str, Complexity] = Field(default_factory=lambda: dict(DEFAULT_COMPLEXITIES))

    @field_validator("priorities", "complexity_values")
    @classmethod
    def _lower_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        return {k.strip().lower(): v for k, v in value.items()}

    @field_validator("priority_label_prefix", "complexity_label_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a label prefix cannot be empty")
        return value


class RouteRule(BaseModel):
    """Tickets matching every given condition land in `repository` (first matching rule wins)."""

    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(default=None, description="Jira project key (or a file ticket's id prefix)")
    component: str | None = None
    label: str | None = None
    repository: str
    base_branch: str | None = None

    @model_validator(mode="after")
    def _has_condition(self) -> RouteRule:
        if self.project is None and self.component is None and self.label is None:
            raise ValueError("a routing rule needs project, component or label (else use default_repository)")
        check_gitlab_path(self.repository)
        if self.base_branch is not None:
            check_branch(self.base_branch)
        return self


class RoutingConfig(BaseModel):
    """Which GitLab project and base branch a ticket's code goes to.

    Jira and file tickets: the first matching rule, else `default_repository`. GitLab issues: their own
    project, on `base_branches[project]` or `default_base_branch`.
    """

    model_config = ConfigDict(extra="forbid")

    rules: list[RouteRule] = Field(default_factory=list)
    default_repository: str | None = None
    default_base_branch: str = "main"
    base_branches: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid(self) -> RoutingConfig:
        if self.default_repository is not None:
            check_gitlab_path(self.default_repository)
        check_branch(self.default_base_branch)
        for path, branch in self.base_branches.items():
            check_gitlab_path(path)
            check_branch(branch)
        return self


class IntakeConfig(BaseModel):
    """The whole intake section; `sources` get their defaults from the labels here."""

    model_config = ConfigDict(extra="forbid")

    sources: list[SourceConfig] = Field(default_factory=list)
    ready_label: str = DEFAULT_READY_LABEL
    not_ready_label: str = DEFAULT_NOT_READY_LABEL
    #: The label a ticket finished in part gets (with one comment linking the partial MR and follow-up).
    partial_label: str = DEFAULT_PARTIAL_LABEL
    #: Where follow-ups of partial file tickets are written; None: next to the source folder's tickets.
    followup_folder: str | None = None
    fields: FieldMapping = Field(default_factory=FieldMapping)
    #: GitLab project path -> ticket id prefix (`group/app` -> `APP`, so issue #12 is APP-12).
    gitlab_key_prefixes: dict[str, str] = Field(default_factory=dict)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    #: Cap on one ticket's text in UTF-8 bytes (default 64 KiB); longer text is cut and the cut noted.
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024, le=16 * 1024 * 1024)
    #: `kind` of the marker the generation stage puts on its escalation comment (see marker_key).
    escalation_kind: str = "escalation"
    #: How many earlier batches carry-over looks at.
    carryover_lookback: int = Field(default=30, ge=1, le=1000)

    @field_validator("ready_label", "not_ready_label", "partial_label")
    @classmethod
    def _labels(cls, value: str) -> str:
        return check_label(value)

    @field_validator("gitlab_key_prefixes")
    @classmethod
    def _prefixes(cls, value: dict[str, str]) -> dict[str, str]:
        for path, prefix in value.items():
            check_gitlab_path(path)
            if not is_ticket_prefix(prefix):
                raise ValueError(f"key prefix {prefix!r} for {path} must be upper-case ASCII such as APP")
        seen: dict[str, str] = {}
        for path, prefix in value.items():
            if prefix in seen:
                raise ValueError(f"key prefix {prefix} is used by both {seen[prefix]} and {path}")
            seen[prefix] = path
        return value

    @model_validator(mode="after")
    def _defaults_and_cross_checks(self) -> IntakeConfig:
        if len({self.ready_label, self.not_ready_label, self.partial_label}) < 3:
            raise ValueError("ready_label, not_ready_label and partial_label must differ")
        names: set[str] = set()
        self.sources = [source.with_defaults(self.ready_label) for source in self.sources]
        for source in self.sources:
            if source.display_name in names:
                raise ValueError(f"two sources are named {source.display_name!r}: give each a unique name")
            names.add(source.display_name)
        return self

    def query_for(self, source: TrackerSourceConfig) -> str:
        """The tracker query of a source (each source model builds its own, from the ready label)."""
        return source.query(self.ready_label)


class IntakeConfigError(ValueError):
    """The intake config is unusable; `problems` names each field and what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid intake config:\n" + "\n".join(f"  {p}" for p in problems))


def parse_intake_config(data: Any) -> IntakeConfig:
    """Validate a parsed mapping (the `intake:` section, or a document holding one)."""
    if isinstance(data, dict) and set(data) == {"intake"}:
        data = data["intake"]
    try:
        return IntakeConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "intake"
            problems.append(f"intake.{loc}: {err['msg'].removeprefix('Value error, ')}")
        raise IntakeConfigError(problems) from None


def load_intake_config(source: Path | str | bytes) -> IntakeConfig:
    """Load from a YAML file path or YAML text, with the strict loader."""
    try:
        data = load_yaml_file(source) if isinstance(source, Path) else load_yaml_text(source)
    except UnsafeYamlError as exc:
        raise IntakeConfigError([str(exc)]) from None
    return parse_intake_config(data)
