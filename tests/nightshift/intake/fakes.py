"""An in-memory Tracker for intake's unit tests, with the Tracker protocol's idempotency semantics.

It records every write so tests can count comments and label changes, and it can fail like a real
tracker: down (TrackerError naming the service) or rejecting a query (TrackerConfigError).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from nightshift.trackers.base import TrackerConfigError, TrackerError, TrackerIssue, hidden_marker

READY = "ready-for-agent"


def ready_body(
    *,
    criteria: tuple[str, ...] = ("it works",),
    questions: tuple[str, ...] = (),
    tests: tuple[str, ...] = ("a test",),
    deps: str = "None",
    files: str = "src/app.py",
    complexity: str = "Small",
    extra: str = "",
    criteria_ticked: bool = True,
) -> str:
    """A markdown description with sections and the spec's readiness checklist."""
    parts = [extra] if extra else []
    if criteria:
        parts.append("## Acceptance criteria\n" + "\n".join(f"- {c}" for c in criteria))
    if questions:
        parts.append("## Open questions\n" + "\n".join(f"- {q}" for q in questions))
    if tests:
        parts.append("## Test cases\n" + "\n".join(f"- {t}" for t in tests))
    parts.append(
        "## Agent Readiness\n"
        f"- [{'x' if criteria_ticked else ' '}] Acceptance criteria clear\n"
        f"- [{' ' if questions else 'x'}] No open questions\n"
        f"- [x] Dependencies: {deps}\n"
        f"- [x] Estimated files: {files}\n"
        f"- [x] Complexity: {complexity}\n"
    )
    return "\n\n".join(parts)


def not_ready_body(**kw: object) -> str:
    """No acceptance criteria, and the checklist does not tick them: misses a required item."""
    return ready_body(criteria=(), criteria_ticked=False, **kw)  # type: ignore[arg-type]


def jira_issue(key: str, **kw: object) -> TrackerIssue:
    data: dict[str, object] = {
        "tracker": "jira",
        "key": key,
        "project": key.rsplit("-", 1)[0],
        "title": f"Title of {key}",
        "description": ready_body(),
        "description_format": "markdown",
        "url": f"https://jira.example.test/browse/{key}",
        "labels": [READY],
        "priority": "Medium",
        "status": "To Do",
    }
    data.update(kw)
    return TrackerIssue.model_validate(data)


def gitlab_issue(path: str, iid: int, **kw: object) -> TrackerIssue:
    data: dict[str, object] = {
        "tracker": "gitlab",
        "key": f"{path}#{iid}",
        "project": path,
        "title": f"Issue {iid} of {path}",
        "description": ready_body(),
        "description_format": "markdown",
        "url": f"https://gitlab.example.test/{path}/-/issues/{iid}",
        "labels": [READY],
        "status": "opened",
    }
    data.update(kw)
    return TrackerIssue.model_validate(data)


@dataclass
class FakeTracker:
    """Issues by key; `search` returns the open issues carrying the query's label (like the default JQL)."""

    issues: dict[str, TrackerIssue] = field(default_factory=dict)
    name: str = "fake-jira"
    down: bool = False  # every call raises TrackerError
    bad_query: Callable[[str], bool] = lambda query: False
    search_everything: bool = False  # return every issue whatever the query (a too-wide JQL)
    done_keys: set[str] = field(default_factory=set)  # issues not in `issues` that are done
    #: Every write, in order: ("comment", key, marker) or ("labels", key, add, remove).
    writes: list[tuple[object, ...]] = field(default_factory=list)
    reads: list[tuple[str, str]] = field(default_factory=list)
    #: marker -> (key, body): what comment_once keeps (one comment per marker, updated in place).
    comments: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, *issues: TrackerIssue, **kw: object) -> FakeTracker:
        return cls(issues={i.key: i for i in issues}, **kw)  # type: ignore[arg-type]

    def _check(self) -> None:
        if self.down:
            raise TrackerError(f"{self.name}: service unavailable (503) at https://tracker.example.test")

    def search(self, query: str) -> Iterator[TrackerIssue]:
        self._check()
        self.reads.append(("search", query))
        if self.bad_query(query):
            raise TrackerConfigError(f"{self.name}: the query was rejected: {query!r}")
        for issue in list(self.issues.values()):
            if self.search_everything:
                yield issue  # a too-wide query: done and unlabelled issues too
            elif READY in issue.labels and not issue.done:
                yield issue

    def get(self, key: str) -> TrackerIssue:
        self._check()
        self.reads.append(("get", key))
        if key not in self.issues:
            raise KeyError(key)
        return self.issues[key]

    def is_done(self, key: str) -> bool:
        self._check()
        self.reads.append(("is_done", key))
        if key in self.done_keys:
            return True
        if key not in self.issues:
            raise KeyError(key)
        return self.issues[key].done

    def comment_once(self, key: str, marker: str, body: str) -> str:
        self._check()
        self.writes.append(("comment", key, marker))
        issue = self.issues[key]
        if marker not in self.comments:
            self.issues[key] = issue.model_copy(
                update={"comments": [*issue.comments, f"{body}\n{hidden_marker(marker)}"]}
            )
        self.comments[marker] = (key, body)
        return marker

    def ensure_labels(self, key: str, add: list[str], remove: list[str] = []) -> None:  # noqa: B006
        self._check()
        self.writes.append(("labels", key, tuple(add), tuple(remove)))
        issue = self.issues[key]
        labels = [lab for lab in issue.labels if lab not in remove]
        labels += [lab for lab in add if lab not in labels]
        self.issues[key] = issue.model_copy(update={"labels": labels})

    def create_followup_once(self, original_key: str, marker: str, title: str, body: str) -> str:
        raise NotImplementedError("intake never creates follow-ups")

    # -- helpers for tests --
    def comments_on(self, key: str) -> list[str]:
        return [body for k, body in self.comments.values() if k == key]

    def add_comment(self, key: str, text: str) -> None:
        """A human writes in the tracker."""
        issue = self.issues[key]
        self.issues[key] = issue.model_copy(update={"comments": [*issue.comments, text]})
