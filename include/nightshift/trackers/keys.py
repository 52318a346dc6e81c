"""How each tracker names its issues: ticket id <-> tracker key, one class per tracker.

Nightshift's ticket ids are `PROJ-142`. A Jira key is one already; a GitLab reference (`group/app#12`)
becomes `<prefix>-12`, the prefix configured per project (intake.gitlab_key_prefixes) or derived from the
path. Shared code asks `key_scheme(tracker, prefixes)` and never branches on the tracker's kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from nightshift.models import GITLAB_IID, GITLAB_PATH, check_ticket_id

__all__ = [
    "GITLAB_PATH_PATTERN",
    "GITLAB_REFERENCE",
    "GitLabKeys",
    "JiraKeys",
    "KeyScheme",
    "check_gitlab_path",
    "is_ticket_prefix",
    "key_scheme",
    "parse_gitlab_reference",
]

#: The GitLab project path and issue iid patterns are spelled once, in models.py; config validation,
#: routing and issue references all use them (with `_safe_path`'s extra checks).
GITLAB_PATH_PATTERN = GITLAB_PATH
_GITLAB_PATH_RE = re.compile(rf"\A{GITLAB_PATH}\Z")
#: A full GitLab issue reference, `group/app#12`.
GITLAB_REFERENCE = re.compile(rf"\A(?P<project>{GITLAB_PATH})#(?P<iid>{GITLAB_IID})\Z")
#: A reference as written in a ticket's text: full, or `#12` within the ticket's own project.
_GITLAB_TEXT_REFERENCE = re.compile(rf"\A(?P<path>[^#\s]*)#(?P<iid>{GITLAB_IID})\Z")


def _safe_path(path: str) -> bool:
    """What the pattern cannot say: no `..` anywhere, not a `.git` clone path."""
    return ".." not in path and not path.endswith(".git")


def check_gitlab_path(value: str) -> str:
    """A GitLab project path such as `group/app` (ASCII, at least one '/', no '..'); else ValueError."""
    if not isinstance(value, str) or not _GITLAB_PATH_RE.match(value) or not _safe_path(value):
        raise ValueError(f"{str(value)[:200]!r} is not a GitLab project path such as 'group/app'")
    return value


def parse_gitlab_reference(key: str) -> tuple[str, int]:
    """`group/app#12` -> ("group/app", 12); ValueError for anything else."""
    match = GITLAB_REFERENCE.match(key)
    if match is None or not _safe_path(match["project"]):
        raise ValueError(f"{_shown(key)} is not a GitLab issue reference such as group/app#12")
    return match["project"], int(match["iid"])


def is_ticket_prefix(value: str) -> bool:
    """Whether `value` can start a ticket id (`PROJ` of `PROJ-142`): a Jira project key, or the prefix
    configured for a GitLab project. Asked of the ticket-id rule itself, so the two cannot drift."""
    try:
        check_ticket_id(f"{value}-1")
    except ValueError:
        return False
    return True


def _shown(value: str) -> str:
    return value if value.isascii() and value.isprintable() and len(value) <= 200 else ascii(value[:200])


class KeyScheme(Protocol):
    """One tracker's naming rules; raises ValueError (naming the key) when a key cannot be made safe."""

    #: Whether `#12`-style references in a ticket's text name this tracker's issues.
    text_references: bool

    def ticket_id(self, key: str, project: str) -> str:
        """The strict ticket id of a tracker key (or a reference relative to `project`)."""
        ...

    def tracker_key(self, ticket_id: str, projects: Iterable[str] = ()) -> str | None:
        """The tracker key of a ticket id, or None when the id cannot be one of this tracker's.
        `projects` are the ones the caller knows (GitLab maps a prefix back to one of them)."""
        ...

    def id_warning(self, project: str) -> str | None:
        """What to tell the operator about how ids of `project` are made, if anything."""
        ...

    def repository(self, project: str) -> str | None:
        """The repository an issue of `project` lives in, if the tracker is the forge itself."""
        ...

    def check_project(self, project: str) -> str:
        """`project` if it names a project of this tracker (as configured in a source), else ValueError."""
        ...


class JiraKeys:
    """Jira: a key is its ticket id, in any project of the site (a dependency may live outside the
    configured ones) -- except the prefixes configured for GitLab projects, which are never Jira's."""

    text_references = False

    def __init__(self, gitlab_prefixes: Mapping[str, str] | None = None) -> None:
        self.reserved = set((gitlab_prefixes or {}).values())

    def ticket_id(self, key: str, project: str) -> str:
        return check_ticket_id(key)

    def tracker_key(self, ticket_id: str, projects: Iterable[str] = ()) -> str | None:
        prefix = ticket_id.rpartition("-")[0]
        return None if prefix in self.reserved else ticket_id

    def id_warning(self, project: str) -> str | None:
        return None

    def repository(self, project: str) -> str | None:
        return None  # routed by intake's rules

    def check_project(self, project: str) -> str:
        if not isinstance(project, str) or not is_ticket_prefix(project):
            raise ValueError(f"{str(project)[:200]!r} is not a Jira project key")
        return project


class GitLabKeys:
    """GitLab: `group/app#12` <-> `<prefix>-12`, the prefix configured per project or derived."""

    text_references = True

    def __init__(self, prefixes: Mapping[str, str] | None = None) -> None:
        self.prefixes = dict(prefixes or {})

    @staticmethod
    def derive_prefix(project_path: str) -> str:
        """`group/my-app` -> `MY_APP`: the prefix when none is configured."""
        last = project_path.rsplit("/", 1)[-1]
        return re.sub(r"[^A-Z0-9_]", "_", last.upper())[:20]

    def prefix(self, project_path: str) -> tuple[str, bool]:
        """The ticket id prefix of a project, and whether it was derived (not configured)."""
        if project_path in self.prefixes:
            return self.prefixes[project_path], False
        return self.derive_prefix(project_path), True

    def ticket_id(self, key: str, project: str) -> str:
        match = _GITLAB_TEXT_REFERENCE.match(key)
        if match is None:
            raise ValueError(f"{_shown(key)} is not a GitLab issue reference such as group/app#12")
        path, iid = parse_gitlab_reference(f"{match['path'] or project}#{match['iid']}")
        return check_ticket_id(f"{self.prefix(path)[0]}-{iid}")

    def tracker_key(self, ticket_id: str, projects: Iterable[str] = ()) -> str | None:
        prefix, _, iid = ticket_id.rpartition("-")
        for path in sorted(set(projects) | set(self.prefixes)):
            if self.prefix(path)[0] == prefix:
                return f"{path}#{iid}"
        return None

    def id_warning(self, project: str) -> str | None:
        if self.prefix(project)[1]:
            return f"ticket id prefix derived from {project}; set intake.gitlab_key_prefixes to fix it"
        return None

    def repository(self, project: str) -> str | None:
        return project  # a GitLab issue's code lives in its own project

    def check_project(self, project: str) -> str:
        return check_gitlab_path(project)


#: Each tracker's scheme, built from the configured GitLab prefixes.
_SCHEMES: dict[str, Callable[[Mapping[str, str]], KeyScheme]] = {"jira": JiraKeys, "gitlab": GitLabKeys}


def key_scheme(tracker: str, gitlab_prefixes: Mapping[str, str] | None = None) -> KeyScheme:
    """The naming rules of tracker kind `tracker` ("jira", "gitlab")."""
    try:
        make = _SCHEMES[tracker]
    except KeyError:
        raise ValueError(f"no tracker called {tracker!r}; known: {sorted(_SCHEMES)}") from None
    return make(gitlab_prefixes or {})
