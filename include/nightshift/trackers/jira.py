"""The Tracker interface over Jira (Server/DC REST v2 and Cloud REST v3), through the `jira` library.

Keys are Jira's issue keys, which are ticket ids already (`trackers.keys.JiraKeys`).

Every write is idempotent because Airflow runs tasks at least once (docs/security-and-reliability.md, fact 3):

* comments carry a marker (`comment_once`): an invisible `{anchor:...}` wiki macro on Server/DC, a small
  grey subscript ADF paragraph on Cloud. Existing comments are searched first and updated in place.
  Read back (`TrackerIssue.comments`, markdown), a marker appears as `<!-- marker -->`, as on GitLab.
* follow-up tickets carry a label derived from their marker and are looked up by JQL and through the
  original's links before one is created; the link to the original is checked before it is created.
* a write whose outcome is unknown (5xx, timeout, connection dropped after sending) is followed by a
  read that checks whether it happened, and re-sent once only when it did not (fact 4).

All three go through the shared helper `trackers.writes`, exactly as on GitLab. Transport retries live in
the client (see trackers.clients.jira); nothing here retries on top of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, cast

from jira import JIRA
from jira.resources import Comment

from nightshift.trackers.base import (
    IssueLink,
    TrackerConfigError,
    TrackerError,
    TrackerIssue,
    own_marked,
)
from nightshift.trackers.clients.jira import describe_jira, jira_errors
from nightshift.trackers.text import (
    adf_marker,
    adf_to_markdown,
    is_adf_marker,
    markdown_to_adf,
    markdown_to_text,
    markdown_to_wiki,
    wiki_marker,
    wiki_to_markdown,
)
from nightshift.trackers.writes import create_once, upsert_marked

log = logging.getLogger(__name__)

__all__ = ["JiraTracker", "followup_label"]

_BLOCKED_BY_PHRASES = {"is blocked by", "depends on", "is dependent on", "requires"}
_BLOCKS_PHRASES = {
    "blocks",
    "is depended on by",
    "is a dependency of",
    "is prerequisite of",
    "is required by",
}
_LABEL_RE = re.compile(r"\A\S{1,255}\Z")


def _digest(marker: str, length: int) -> str:
    return hashlib.sha256(marker.encode()).hexdigest()[:length]


def followup_label(marker: str) -> str:
    """The label that finds a follow-up ticket again (labels are exact-match in JQL; text search is fuzzy)."""
    return f"nightshift-followup-{_digest(marker, 12)}"


def _simplify(value: Any) -> Any:
    """A custom field's value as plain data: options by value, users by name, ADF as markdown."""
    if isinstance(value, list):
        return [_simplify(v) for v in value]
    if isinstance(value, dict):
        if value.get("type") == "doc":
            return adf_to_markdown(value)
        for key in ("value", "displayName", "name", "key"):
            if key in value:
                return value[key]
    return value


def _link_kind(link_type: dict[str, Any], direction: Literal["inward", "outward"]) -> str:
    phrase = str(link_type.get(direction) or "").strip().lower()
    if phrase in _BLOCKED_BY_PHRASES:
        return "is_blocked_by"
    if phrase in _BLOCKS_PHRASES:
        return "blocks"
    if str(link_type.get("name") or "").lower() == "blocks":
        return "is_blocked_by" if direction == "inward" else "blocks"
    return "relates_to"


def _status_done(fields: dict[str, Any]) -> bool:
    status = fields.get("status") or {}
    return (status.get("statusCategory") or {}).get("key") == "done"


class JiraTracker:
    """Nightshift's tracker operations on one Jira site, over a client from `make_jira_client`."""

    name = "jira"

    def __init__(
        self,
        client: JIRA,
        *,
        connection_id: str | None = None,
        page_size: int = 100,
        max_pages: int = 10_000,
        followup_issue_type: str = "Task",
        followup_link_type: str = "Relates",
    ) -> None:
        if not 1 <= page_size <= 1000:
            raise TrackerConfigError(f"page_size must be between 1 and 1000, not {page_size}")
        self.client = client
        self.connection_id = connection_id
        self.server_url = client.server_url.rstrip("/")
        self.cloud = client.deploymentType == "Cloud"
        self.service = describe_jira(self.server_url, connection_id)
        self.page_size = page_size
        self.max_pages = max_pages
        self.followup_issue_type = followup_issue_type
        self.followup_link_type = followup_link_type
        self._custom_fields: dict[str, str] | None = None
        self._me: str | None = None

    # --- reading ----------------------------------------------------------------------------------
    def search(self, query: str) -> Iterator[TrackerIssue]:
        """Every issue matching the JQL `query`: startAt paging on Server/DC, nextPageToken on Cloud."""
        names = self._custom_field_names()
        action = f"searching {query!r}"
        if self.cloud:
            token: str | None = None
            seen: set[str] = set()
            for _ in range(self.max_pages):
                with self._call(action):
                    page = cast(
                        Any,
                        self.client.enhanced_search_issues(
                            query, nextPageToken=token, maxResults=self.page_size, fields="*all"
                        ),
                    )
                for issue in page:
                    yield self._to_issue(issue.raw, names)
                token = page.nextPageToken
                if not token:
                    return
                if token in seen:
                    raise TrackerError(f"{self.service} returned the same nextPageToken twice while {action}")
                seen.add(token)
        else:
            start = 0
            for _ in range(self.max_pages):
                with self._call(action):
                    page = self.client.search_issues(
                        query, startAt=start, maxResults=self.page_size, fields="*all"
                    )
                for issue in page:
                    yield self._to_issue(issue.raw, names)
                start += len(page)
                if not page or start >= (page.total or 0):
                    return
        raise TrackerError(f"{self.service}: more than {self.max_pages} pages while {action}")

    def get(self, key: str) -> TrackerIssue:
        with self._call(f"reading {key}"):
            issue = self.client.issue(key)
        return self._to_issue(issue.raw, self._custom_field_names())

    def is_done(self, key: str) -> bool:
        with self._call(f"reading the status of {key}"):
            issue = self.client.issue(key, fields="status")
        return _status_done(issue.raw.get("fields") or {})

    # --- writing ----------------------------------------------------------------------------------
    def comment_once(self, key: str, marker: str, body: str) -> str:
        """Post `body` (markdown) once per `marker`; if a marked comment exists, update it in place.

        Concurrent runs may both post; each then keeps the oldest marked comment and deletes the rest,
        so the issue converges on one comment per marker (`trackers.writes.upsert_marked`).
        """
        copies = _MarkedComments(self, key, marker, self._marked_body(body, marker))
        kept = upsert_marked(copies, guard=self._call, what=f"the comment marked {marker!r} on {key}")
        return str(kept.id)

    def ensure_labels(self, key: str, add: Sequence[str], remove: Sequence[str] = ()) -> None:
        """Add and remove labels in one update; a no-op when the issue already has them right."""
        add, remove = list(dict.fromkeys(add)), list(dict.fromkeys(remove))
        for label in [*add, *remove]:
            if not _LABEL_RE.match(label):
                raise TrackerConfigError(f"{label!r} is not a valid Jira label (no spaces, 1-255 characters)")
        if set(add) & set(remove):
            raise TrackerConfigError(f"labels both added and removed: {sorted(set(add) & set(remove))}")
        with self._call(f"reading the labels of {key}"):
            issue = self.client.issue(key, fields="labels")
        current = set((issue.raw.get("fields") or {}).get("labels") or [])
        operations = [{"add": label} for label in add if label not in current]
        operations += [{"remove": label} for label in remove if label in current]
        if operations:
            with self._call(f"updating the labels of {key}"):
                issue.update(update={"labels": operations})

    def create_followup_once(self, original_key: str, marker: str, title: str, body: str) -> str:
        """Create a follow-up in the original's project, labelled and linked, unless it exists already."""
        label = followup_label(marker)
        with self._call(f"reading {original_key}"):
            original = self.client.issue(original_key, fields="project")
        project = (original.raw.get("fields") or {}).get("project") or {}
        # `title` is one line of guarded markdown; a Jira summary is plain text.
        summary = markdown_to_text(title)[:255] or f"Follow-up of {original_key}"
        fields = {
            "project": {"key": project.get("key") or original_key.rsplit("-", 1)[0]},
            "summary": summary,
            "issuetype": {"name": self.followup_issue_type},
            "labels": [label],
            "description": self._marked_body(body, marker),
        }

        def create() -> str:
            return str(self.client.create_issue(fields=fields, prefetch=False).key)

        followup = create_once(
            lambda: self._find_followup(label, original_key),
            create,
            guard=self._call,
            what=f"the follow-up ({marker}) of {original_key}",
            find_is_current=False,  # JQL reads a search index that lags (on Cloud, seconds)
        )
        self._ensure_link(original_key, followup)
        return followup

    # --- helpers ----------------------------------------------------------------------------------
    def _find_followup(self, label: str, original_key: str) -> str | None:
        """By label through JQL, then through the original's links (search indexes may lag on Cloud)."""
        me = self._myself()
        for issue in self.search(f'labels = "{label}" ORDER BY key ASC'):
            with self._call(f"reading who created {issue.key}"):
                if self._created_by(self.client.issue(issue.key, fields="creator,reporter").raw) == me:
                    return issue.key
        with self._call(f"reading the links of {original_key}"):
            original = self.client.issue(original_key, fields="issuelinks")
            for linked in self._linked_keys(original.raw):
                other = self.client.issue(linked, fields="labels,creator,reporter").raw
                labels = (other.get("fields") or {}).get("labels") or []
                if label in labels and self._created_by(other) == me:
                    return linked
        return None

    @staticmethod
    def _created_by(raw: dict[str, Any]) -> str | None:
        """Who created an issue (a label is no proof: anyone can add it): creator, else reporter."""
        fields = raw.get("fields") or {}
        return _account(fields.get("creator") or fields.get("reporter"))

    @staticmethod
    def _linked_keys(raw: dict[str, Any]) -> list[str]:
        keys = []
        for entry in (raw.get("fields") or {}).get("issuelinks") or []:
            other = entry.get("inwardIssue") or entry.get("outwardIssue") or {}
            if other.get("key"):
                keys.append(str(other["key"]))
        return keys

    def _ensure_link(self, original_key: str, followup_key: str) -> None:
        def linked() -> bool | None:
            issue = self.client.issue(original_key, fields="issuelinks")
            return True if followup_key in self._linked_keys(issue.raw) else None

        def create() -> bool:
            self.client.create_issue_link(
                self.followup_link_type, inwardIssue=original_key, outwardIssue=followup_key
            )
            return True

        create_once(linked, create, guard=self._call, what=f"the link from {original_key} to {followup_key}")

    def _marked_body(self, body: str, marker: str) -> Any:
        if self.cloud:
            doc = markdown_to_adf(body)
            doc["content"].append(adf_marker(marker))
            return doc
        wiki = markdown_to_wiki(body)
        return f"{wiki}\n\n{wiki_marker(marker)}" if wiki else wiki_marker(marker)

    def _has_marker(self, body: Any, marker: str) -> bool:
        if self.cloud:
            return isinstance(body, dict) and any(is_adf_marker(n, marker) for n in body.get("content") or [])
        return isinstance(body, str) and wiki_marker(marker) in body

    def _myself(self) -> str:
        """The connection's own account (Cloud accountId, Server user key): marked comments count
        only when it wrote them."""
        if self._me is None:
            with self._call("reading the connection's own account (myself)"):
                me = _account(self.client.myself())
            if me is None:
                raise TrackerError(f"{self.service}: /myself did not name the connection's account")
            self._me = me
        return self._me

    def _marked_comments(self, key: str, marker: str) -> list[Comment]:
        found: list[Comment] = []
        start = 0
        me = self._myself()
        for _ in range(self.max_pages):
            page = self.client.comments(key, start_at=start, max_results=self.page_size)
            found.extend(
                own_marked(
                    page,
                    marked=lambda c: self._has_marker(c.raw.get("body"), marker),
                    author=lambda c: _account(c.raw.get("author")),
                    me=me,
                )
            )
            if len(page) < self.page_size:
                break
            start += len(page)
        return sorted(found, key=lambda c: (len(str(c.id)), str(c.id)))

    def _text(self, body: Any) -> str:
        """A description or comment body as markdown; Nightshift's markers become `<!-- marker -->`."""
        if self.cloud:
            return adf_to_markdown(body) if isinstance(body, dict) else str(body or "")
        return wiki_to_markdown(body if isinstance(body, str) else "")

    def _custom_field_names(self) -> dict[str, str]:
        if self._custom_fields is None:
            with self._call("reading the field list"):
                fields = self.client.fields()
            self._custom_fields = {
                str(f["id"]): str(f.get("name") or f["id"]) for f in fields if f.get("custom")
            }
        return self._custom_fields

    def _to_issue(self, raw: dict[str, Any], custom_names: dict[str, str]) -> TrackerIssue:
        fields = raw.get("fields") or {}
        key = str(raw["key"])
        description = fields.get("description")
        if self.cloud:
            text = json.dumps(description) if isinstance(description, dict) else (description or "")
            fmt: Literal["adf", "wiki"] = "adf"
        else:
            text, fmt = (description if isinstance(description, str) else ""), "wiki"
        status = fields.get("status") or {}
        links = []
        for entry in fields.get("issuelinks") or []:
            direction: Literal["inward", "outward"] = "inward" if "inwardIssue" in entry else "outward"
            other = entry.get(f"{direction}Issue") or {}
            if not other.get("key"):
                continue
            links.append(
                IssueLink(
                    kind=cast(Any, _link_kind(entry.get("type") or {}, direction)),
                    key=str(other["key"]),
                    done=_status_done(other.get("fields") or {}),
                )
            )
        comments = [self._text(c.get("body")) for c in (fields.get("comment") or {}).get("comments") or []]
        return TrackerIssue(
            tracker="jira",
            key=key,
            project=str((fields.get("project") or {}).get("key") or key.rsplit("-", 1)[0]),
            title=str(fields.get("summary") or ""),
            description=text,
            description_format=fmt,
            url=f"{self.server_url}/browse/{key}",
            labels=[str(label) for label in fields.get("labels") or []],
            priority=(fields.get("priority") or {}).get("name"),
            status=str(status.get("name") or ""),
            done=_status_done(fields),
            components=[str(c["name"]) for c in fields.get("components") or [] if c.get("name")],
            links=links,
            custom_fields={
                name: _simplify(fields[fid]) for fid, name in custom_names.items() if fid in fields
            },
            comments=comments,
        )

    def _call(self, action: str) -> AbstractContextManager[None]:
        """Turn the library's and the transport's errors into `trackers.errors` naming the service."""
        return jira_errors(self.service, action)


class _MarkedComments:
    """The comments of one issue that carry one marker (`trackers.writes.MarkedCopies`)."""

    def __init__(self, tracker: JiraTracker, key: str, marker: str, payload: Any) -> None:
        self.tracker, self.key, self.marker, self.payload = tracker, key, marker, payload

    def own(self) -> list[Comment]:
        return self.tracker._marked_comments(self.key, self.marker)

    def post(self) -> Comment:
        return self.tracker.client.add_comment(self.key, cast(Any, self.payload))

    def delete(self, copy: Comment) -> None:
        copy.delete()

    def is_current(self, copy: Comment) -> bool:
        return bool(copy.raw.get("body") == self.payload)

    def update(self, copy: Comment) -> None:
        copy.update(body=cast(Any, self.payload))


def _account(user: Any) -> str | None:
    """A user's stable identity: the accountId on Cloud, the user key (else name) on Server/DC."""
    if not isinstance(user, dict):
        return None
    value = user.get("accountId") or user.get("key") or user.get("name")
    return str(value) if value else None
