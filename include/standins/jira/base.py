"""Shared by every resource: the in-memory state, lookups, validation and the JSON shapes of
Jira's objects (users, statuses, issues, comments, links) in the deployment's flavour."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from standins.http import HttpError, StandinServer
from standins.jira.seed import SeedCustomField, SeedProject
from standins.jira.state import (
    BASE_TIME,
    CATEGORIES,
    ISSUE_TYPES,
    LINK_TYPES,
    PRIORITIES,
    SYSTEM_FIELDS,
    Category,
    Comment,
    Issue,
    Link,
    Mode,
    User,
    adf_from_text,
    error_body,
    is_adf,
    jira_time,
)


class JiraBase(StandinServer):
    """State and helpers every resource's routes use; JiraStandin (server.py) fills them in."""

    mode: Mode
    api: str
    max_results: int
    statuses: dict[str, Category]
    projects: dict[str, SeedProject]
    users: dict[str, User]
    custom_fields: dict[str, SeedCustomField]
    issues: dict[str, Issue]
    links: list[Link]
    _next_issue_id: int
    _next_comment_id: int
    _next_link_id: int
    _clock: int
    _current_user: User | None

    def _tick(self) -> dt.datetime:
        self._clock += 1
        return BASE_TIME + dt.timedelta(seconds=self._clock)

    def _check_status(self, status: str) -> None:
        if status not in self.statuses:
            raise ValueError(f"unknown status {status!r} (known: {', '.join(self.statuses)})")

    @staticmethod
    def _check_priority(priority: str | None) -> None:
        if priority is not None and priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r}")

    def _body_in(self, body: Any, what: str) -> Any:
        """Descriptions and comments as the deployment stores them: wiki text, or ADF on Cloud."""
        if self.mode == "cloud":
            if isinstance(body, str):
                return adf_from_text(body)
            if not is_adf(body):
                raise ValueError(f"the {what} must be an ADF document on Jira Cloud")
            return copy.deepcopy(body)
        if not isinstance(body, str):
            raise ValueError(f"the {what} must be a wiki-markup string on Jira Server")
        return body

    def _custom_in(self, values: dict[str, Any]) -> dict[str, Any]:
        out = {}
        by_name = {f.name.lower(): f for f in self.custom_fields.values()}
        for name, value in values.items():
            spec = self.custom_fields.get(name) or by_name.get(name.lower())
            if spec is None:
                raise ValueError(f"unknown custom field {name!r}")
            out[spec.id] = self._custom_value(spec, value)
        return out

    @staticmethod
    def _custom_value(spec: SeedCustomField, value: Any) -> Any:
        if value is None:
            return None
        if spec.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{spec.name} takes a number, not {value!r}")
            return value
        if spec.type == "option":
            if isinstance(value, dict):
                value = (
                    value.get("value")
                    if "value" in value
                    else next(
                        (o for i, o in enumerate(spec.options) if str(10100 + i) == str(value.get("id"))),
                        None,
                    )
                )
            if value not in spec.options:
                raise ValueError(f"{value!r} is not an option of {spec.name} ({', '.join(spec.options)})")
            return value
        if spec.type == "labels":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{spec.name} takes a list of strings")
            return list(value)
        if not isinstance(value, str):
            raise ValueError(f"{spec.name} takes a string")
        return value

    def _link_type(self, name_or_id: str) -> tuple[str, str, str, str]:
        for link_type in LINK_TYPES:
            if name_or_id in (link_type[0], link_type[1]):
                return link_type
        raise ValueError(f"unknown issue link type {name_or_id!r}")

    def _url(self, path: str) -> str:
        return f"{self.base_url}/rest/api/{self.api}/{path}"

    def _user_json(self, name: str | None, *, detailed: bool = False) -> dict[str, Any] | None:
        user = self.users.get(name or "")
        if user is None:
            return None
        avatars = {
            size: f"{self.base_url}/avatar/{user.key}?s={size.split('x')[0]}"
            for size in ("16x16", "24x24", "32x32", "48x48")
        }
        if self.mode == "cloud":
            out: dict[str, Any] = {
                "self": self._url(f"user?accountId={user.account_id}"),
                "accountId": user.account_id,
                "accountType": "atlassian",
            }
        else:
            out = {"self": self._url(f"user?username={user.name}"), "key": user.key, "name": user.name}
        out.update(
            {
                "emailAddress": user.email,
                "avatarUrls": avatars,
                "displayName": user.display_name,
                "active": True,
                "timeZone": "Etc/UTC",
            }
        )
        if detailed:
            out["locale"] = "en_US"
        return out

    def _status_json(self, name: str) -> dict[str, Any]:
        category = self.statuses[name]
        index = list(self.statuses).index(name)
        cat_id, cat_name, color = CATEGORIES[category]
        return {
            "self": self._url(f"status/{10000 + index}"),
            "description": "",
            "name": name,
            "id": str(10000 + index),
            "iconUrl": f"{self.base_url}/images/icons/statuses/generic.png",
            "statusCategory": {
                "self": self._url(f"statuscategory/{cat_id}"),
                "id": cat_id,
                "key": category,
                "colorName": color,
                "name": cat_name,
            },
        }

    def _priority_json(self, name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        pid = str(PRIORITIES.index(name) + 1)
        return {
            "self": self._url(f"priority/{pid}"),
            "iconUrl": f"{self.base_url}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": pid,
        }

    def _issuetype_json(self, name: str) -> dict[str, Any]:
        return {
            "self": self._url(f"issuetype/{ISSUE_TYPES[name]}"),
            "id": ISSUE_TYPES[name],
            "description": "",
            "iconUrl": f"{self.base_url}/images/icons/issuetypes/{name.lower()}.svg",
            "name": name,
            "subtask": name == "Sub-task",
        }

    def _project_json(self, key: str) -> dict[str, Any]:
        project = self.projects[key]
        index = list(self.projects).index(key)
        return {
            "self": self._url(f"project/{10000 + index}"),
            "id": str(10000 + index),
            "key": key,
            "name": project.name or key,
            "projectTypeKey": "software",
            "simplified": False,
        }

    def _link_type_json(self, link_type: tuple[str, str, str, str]) -> dict[str, Any]:
        lid, name, inward, outward = link_type
        return {
            "id": lid,
            "name": name,
            "inward": inward,
            "outward": outward,
            "self": self._url(f"issueLinkType/{lid}"),
        }

    def _comment_json(self, issue: Issue, comment: Comment) -> dict[str, Any]:
        author = self._user_json(comment.author)
        out: dict[str, Any] = {
            "self": self._url(f"issue/{issue.id}/comment/{comment.id}"),
            "id": str(comment.id),
            "author": author,
            "body": copy.deepcopy(comment.body),
            "updateAuthor": author,
            "created": jira_time(comment.created),
            "updated": jira_time(comment.updated),
        }
        if self.mode == "cloud":
            out["jsdPublic"] = True
        return out

    def _comments_page(self, issue: Issue, start: int = 0, limit: int | None = None) -> dict[str, Any]:
        comments = issue.comments[start : None if limit is None else start + limit]
        return {
            "comments": [self._comment_json(issue, c) for c in comments],
            "maxResults": len(comments) if limit is None else limit,
            "total": len(issue.comments),
            "startAt": start,
        }

    def _linked_issue_json(self, key: str) -> dict[str, Any]:
        other = self.issues[key]
        return {
            "id": str(other.id),
            "key": other.key,
            "self": self._url(f"issue/{other.id}"),
            "fields": {
                "summary": other.summary,
                "status": self._status_json(other.status),
                "priority": self._priority_json(other.priority),
                "issuetype": self._issuetype_json(other.issuetype),
            },
        }

    def _issuelinks_json(self, issue: Issue) -> list[dict[str, Any]]:
        out = []
        for link in self.links:
            if issue.key not in (link.source, link.target):
                continue
            entry: dict[str, Any] = {
                "id": str(link.id),
                "self": self._url(f"issueLink/{link.id}"),
                "type": self._link_type_json(self._link_type(link.type)),
            }
            if link.source == issue.key:
                entry["outwardIssue"] = self._linked_issue_json(link.target)
            else:
                entry["inwardIssue"] = self._linked_issue_json(link.source)
            out.append(entry)
        return out

    def _custom_json(self, spec: SeedCustomField, value: Any) -> Any:
        if value is None:
            return None
        if spec.type == "option":
            oid = str(10100 + spec.options.index(value))
            return {"self": self._url(f"customFieldOption/{oid}"), "value": value, "id": oid}
        return copy.deepcopy(value)

    def _issue_json(self, issue: Issue, wanted: Any = None) -> dict[str, Any]:
        """An issue bean; `wanted(field_id)` selects fields (all when None)."""
        producers: dict[str, Any] = {
            "summary": lambda: issue.summary,
            "description": lambda: copy.deepcopy(issue.description),
            "labels": lambda: list(issue.labels),
            "priority": lambda: self._priority_json(issue.priority),
            "status": lambda: self._status_json(issue.status),
            "issuelinks": lambda: self._issuelinks_json(issue),
            "components": lambda: [
                {"self": self._url(f"component/{10000 + i}"), "id": str(10000 + i), "name": name}
                for i, name in enumerate(issue.components)
            ],
            "project": lambda: self._project_json(issue.project),
            "issuetype": lambda: self._issuetype_json(issue.issuetype),
            "created": lambda: jira_time(issue.created),
            "updated": lambda: jira_time(issue.updated),
            "reporter": lambda: self._user_json(issue.reporter),
            "assignee": lambda: None,
            "comment": lambda: self._comments_page(issue),
        }
        for fid, spec in self.custom_fields.items():
            producers[fid] = lambda spec=spec, fid=fid: self._custom_json(spec, issue.custom.get(fid))
        fields = {fid: make() for fid, make in producers.items() if wanted is None or wanted(fid)}
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(issue.id),
            "self": self._url(f"issue/{issue.id}"),
            "key": issue.key,
            "fields": fields,
        }

    @staticmethod
    def _field_selector(values: list[str] | None, default: str) -> Any:
        """`fields` as Jira reads it: *all, *navigable, id, names, and -name exclusions."""
        items = [v.strip() for raw in (values or [default]) for v in str(raw).split(",") if v.strip()]
        include: set[str] = set()
        exclude: set[str] = set()
        everything = navigable = False
        for item in items:
            if item.startswith("-"):
                exclude.add(item[1:])
            elif item == "*all":
                everything = True
            elif item == "*navigable":
                navigable = True
            else:
                include.add(item)
        if not (everything or navigable or include):
            navigable = True  # only exclusions: navigable minus those
        not_navigable = {f[0] for f in SYSTEM_FIELDS if not f[5]}

        def wanted(fid: str) -> bool:
            if fid in exclude:
                return False
            return everything or fid in include or (navigable and fid not in not_navigable)

        return wanted

    def _me(self) -> User:
        if self._current_user is None:
            raise HttpError(
                401,
                error_body("You are not authenticated. Authentication required to perform this operation."),
            )
        return self._current_user

    def _issue(self, key_or_id: str) -> Issue:
        issue = self.issues.get(key_or_id.upper())
        if issue is None and key_or_id.isdigit():
            issue = next((i for i in self.issues.values() if str(i.id) == key_or_id), None)
        if issue is None:
            raise HttpError(404, error_body("Issue does not exist or you do not have permission to see it."))
        return issue

    @staticmethod
    def _int_arg(value: Any, default: int, name: str) -> int:
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise HttpError(
                400, error_body(f"The value of '{name}' must be a number, not '{value}'.")
            ) from None

    def add_comment(self, key: str, body: str | dict[str, Any], author: str | None = None) -> str:
        with self.lock:
            issue = self.issues[key]
            when = self._tick()
            comment = Comment(
                self._next_comment_id,
                self._body_in(body, "comment"),
                author or next(iter(self.users)),
                when,
                when,
            )
            self._next_comment_id += 1
            issue.comments.append(comment)
            issue.updated = when
            return str(comment.id)

    def _check_comment_body(self, body: Any) -> None:
        if self.mode == "cloud" and not is_adf(body):
            raise HttpError(400, error_body(comment="Comment body must be an Atlassian Document (ADF)."))
        if self.mode == "server" and (not isinstance(body, str) or not body.strip()):
            raise HttpError(400, error_body(comment="Comment body can not be empty!"))

    def _store_comment(
        self, issue: Issue, body: Any, properties: list[dict[str, Any]] | None = None
    ) -> Comment:
        when = self._tick()
        comment = Comment(
            self._next_comment_id, copy.deepcopy(body), self._me().name, when, when, list(properties or [])
        )
        self._next_comment_id += 1
        issue.comments.append(comment)
        issue.updated = when
        return comment
