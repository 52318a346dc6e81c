"""Issues: create, read, edit (fields and update operations), transitions; the test helpers
`add_issue`, `set_status`, `set_labels` act as people would."""

from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any, cast

from standins.http import HttpError, Request, Response
from standins.jira.base import JiraBase
from standins.jira.seed import SeedComment
from standins.jira.state import ISSUE_TYPES, PRIORITIES, Issue, error_body, is_adf


class IssueRoutes(JiraBase):
    def add_issue(
        self,
        summary: str,
        *,
        key: str | None = None,
        project: str | None = None,
        description: str | dict[str, Any] | None = None,
        labels: list[str] | None = None,
        priority: str | None = "Medium",
        status: str = "To Do",
        issuetype: str = "Story",
        components: list[str] | None = None,
        custom: dict[str, Any] | None = None,
        comments: list[Any] | None = None,
        reporter: str | None = None,
        created: dt.datetime | None = None,
    ) -> str:
        """Add an issue directly (no HTTP); returns its key."""
        with self.lock:
            project = project or (key.rsplit("-", 1)[0] if key else next(iter(self.projects)))
            if project not in self.projects:
                raise ValueError(f"unknown project {project!r}")
            if key is None:
                numbers = [i.number for i in self.issues.values() if i.project == project]
                key = f"{project}-{max(numbers, default=0) + 1}"
            if key in self.issues:
                raise ValueError(f"issue {key} exists already")
            if not key.startswith(project + "-"):
                raise ValueError(f"issue key {key} is not in project {project}")
            self._check_status(status)
            self._check_priority(priority)
            if issuetype not in ISSUE_TYPES:
                raise ValueError(f"unknown issue type {issuetype!r}")
            when = created or self._tick()
            issue = Issue(
                id=self._next_issue_id,
                key=key,
                project=project,
                summary=summary,
                description=self._body_in(description, "description") if description is not None else None,
                labels=list(labels or []),
                priority=priority,
                status=status,
                issuetype=issuetype,
                components=list(components or []),
                custom=self._custom_in(custom or {}),
                reporter=reporter or next(iter(self.users), None),
                created=when,
                updated=when,
            )
            self._next_issue_id += 1
            self.issues[key] = issue
            for comment in comments or []:
                if isinstance(comment, SeedComment):
                    comment = comment.model_dump()
                if isinstance(comment, dict) and "body" in comment and not is_adf(comment):
                    self.add_comment(key, comment["body"], author=comment.get("author"))
                else:
                    self.add_comment(key, comment)
            return key

    def set_status(self, key: str, status: str) -> None:
        with self.lock:
            self._check_status(status)
            self.issues[key].status = status
            self.issues[key].updated = self._tick()

    def set_labels(self, key: str, labels: list[str]) -> None:
        with self.lock:
            self.issues[key].labels = list(labels)

    def issue_labels(self, key: str) -> list[str]:
        with self.lock:
            return list(self.issues[key].labels)

    def _get_issue(self, request: Request) -> dict[str, Any]:
        issue = self._issue(request.params["key"])
        return self._issue_json(issue, self._field_selector(request.query.get("fields"), "*all"))

    def _apply_fields(self, issue: Issue, fields: dict[str, Any], errors: dict[str, str]) -> None:
        """Validate and apply `fields` (create and edit); problems go to `errors` by field id."""
        for fid, value in fields.items():
            try:
                if fid == "summary":
                    if not isinstance(value, str) or not value.strip():
                        raise ValueError("You must specify a summary of the issue.")
                    if "\n" in value or "\r" in value:
                        raise ValueError("The summary is invalid because it contains newline characters.")
                    if len(value) > 255:
                        raise ValueError("Summary must be less than 255 characters.")
                    issue.summary = value
                elif fid == "description":
                    if value is None:
                        issue.description = None
                    elif self.mode == "cloud" and not is_adf(value):
                        raise ValueError(
                            "Operation value must be an Atlassian Document (see the Atlassian "
                            "Document Format)"
                        )
                    elif self.mode == "server" and not isinstance(value, str):
                        raise ValueError("Operation value must be a string")
                    else:
                        issue.description = copy.deepcopy(value)
                elif fid == "labels":
                    issue.labels = self._labels_in(value)
                elif fid == "priority":
                    name = value.get("name") if isinstance(value, dict) else None
                    if isinstance(value, dict) and "id" in value and name is None:
                        name = next(
                            (p for i, p in enumerate(PRIORITIES) if str(i + 1) == str(value["id"])), None
                        )
                    if name not in PRIORITIES:
                        raise ValueError(f"Specify a valid priority ('{value}' is not one).")
                    issue.priority = name
                elif fid == "components":
                    names = [c.get("name") for c in value] if isinstance(value, list) else None
                    known = self.projects[issue.project].components
                    if names is None or any(n not in known for n in names):
                        raise ValueError(f"Component name '{names}' is not valid")
                    issue.components = cast(list[str], names)
                elif fid in self.custom_fields:
                    issue.custom[fid] = self._custom_value(self.custom_fields[fid], value)
                elif fid in ("project", "issuetype"):
                    continue  # handled by create; not editable here
                else:
                    raise ValueError(
                        f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."
                    )
            except ValueError as exc:
                errors[fid] = str(exc)

    @staticmethod
    def _labels_in(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("Labels must be a list of strings.")
        for label in value:
            if not label or re.search(r"\s", label):
                raise ValueError(f"The label '{label}' contains spaces which is invalid.")
            if len(label) > 255:
                raise ValueError("The label must not exceed 255 characters.")
        return list(dict.fromkeys(value))

    def _create_issue(self, request: Request) -> Response:
        body = request.json()
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise HttpError(400, error_body("Request body must hold 'fields'."))
        errors: dict[str, str] = {}
        project_ref = fields.get("project") or {}
        project = next(
            (
                k
                for k in self.projects
                if k == str(project_ref.get("key", "")).upper()
                or self._project_json(k)["id"] == str(project_ref.get("id"))
            ),
            None,
        )
        if project is None:
            errors["project"] = "valid project is required"
        type_ref = fields.get("issuetype") or {}
        issuetype = next(
            (n for n, i in ISSUE_TYPES.items() if type_ref.get("name") == n or str(type_ref.get("id")) == i),
            None,
        )
        if issuetype is None:
            errors["issuetype"] = "valid issue type is required"
        if "summary" not in fields:
            errors["summary"] = "You must specify a summary of the issue."
        if errors:
            raise HttpError(400, error_body(**errors))
        assert project is not None and issuetype is not None
        numbers = [i.number for i in self.issues.values() if i.project == project]
        when = self._tick()
        issue = Issue(
            id=self._next_issue_id,
            key=f"{project}-{max(numbers, default=0) + 1}",
            project=project,
            summary="",
            description=None,
            labels=[],
            priority="Medium",
            status=next(iter(self.statuses)),
            issuetype=issuetype,
            components=[],
            custom={},
            reporter=self._me().name,
            created=when,
            updated=when,
        )
        self._apply_fields(issue, fields, errors)
        if errors:
            raise HttpError(400, error_body(**errors))
        self._next_issue_id += 1
        self.issues[issue.key] = issue
        return Response(201, {"id": str(issue.id), "key": issue.key, "self": self._url(f"issue/{issue.id}")})

    def _update_issue(self, request: Request) -> Response:
        issue = self._issue(request.params["key"])
        body = request.json()
        fields = body.get("fields") or {}
        update = body.get("update") or {}
        if not isinstance(fields, dict) or not isinstance(update, dict):
            raise HttpError(400, error_body("'fields' and 'update' must be objects."))
        both = set(fields) & set(update)
        if both:
            field_name = sorted(both)[0]
            raise HttpError(
                400,
                error_body(
                    **{field_name: f"Field '{field_name}' cannot appear in both 'fields' and 'update'"}
                ),
            )
        staged = copy.deepcopy(issue)
        errors: dict[str, str] = {}
        self._apply_fields(staged, fields, errors)
        new_comments: list[Any] = []
        for fid, operations in update.items():
            if not isinstance(operations, list):
                errors[fid] = "Update operations must be a list."
                continue
            for operation in operations:
                try:
                    self._apply_operation(staged, fid, operation, new_comments)
                except ValueError as exc:
                    errors[fid] = str(exc)
        if errors:
            raise HttpError(400, error_body(**errors))
        staged.updated = self._tick()
        self.issues[issue.key] = staged
        for comment_body in new_comments:
            self._store_comment(staged, comment_body)
        return Response(204, None)

    def _apply_operation(self, issue: Issue, fid: str, operation: Any, new_comments: list[Any]) -> None:
        if not isinstance(operation, dict) or len(operation) != 1:
            raise ValueError("Each update operation is one of add, remove or set.")
        verb, value = next(iter(operation.items()))
        if fid == "labels":
            if verb == "add":
                issue.labels = self._labels_in([*issue.labels, value])
            elif verb == "remove":
                issue.labels = [label for label in issue.labels if label != value]
            elif verb == "set":
                issue.labels = self._labels_in(value)
            else:
                raise ValueError(f"Labels do not support the '{verb}' operation.")
        elif fid == "comment" and verb == "add":
            body = value.get("body") if isinstance(value, dict) else None
            self._check_comment_body(body)
            new_comments.append(body)
        elif fid in ("summary", "description", "priority") and verb == "set":
            errors: dict[str, str] = {}
            self._apply_fields(issue, {fid: value}, errors)
            if errors:
                raise ValueError(errors[fid])
        else:
            raise ValueError(f"Field '{fid}' does not support the '{verb}' operation here.")

    def _transition_list(self, issue: Issue) -> list[dict[str, Any]]:
        return [
            {
                "id": str(11 + 10 * index),
                "name": name,
                "to": self._status_json(name),
                "hasScreen": False,
                "isGlobal": True,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "looped": False,
            }
            for index, name in enumerate(self.statuses)
            if name != issue.status
        ]

    def _transitions(self, request: Request) -> dict[str, Any]:
        issue = self._issue(request.params["key"])
        return {"expand": "transitions", "transitions": self._transition_list(issue)}

    def _transition(self, request: Request) -> Response:
        issue = self._issue(request.params["key"])
        body = request.json()
        wanted = str((body.get("transition") or {}).get("id", ""))
        target = next((t["name"] for t in self._transition_list(issue) if t["id"] == wanted), None)
        if target is None:
            raise HttpError(400, error_body(f"Transition id '{wanted}' is not valid for this issue."))
        comments = [op.get("add", {}).get("body") for op in (body.get("update") or {}).get("comment", [])]
        for comment_body in comments:
            self._check_comment_body(comment_body)
        errors: dict[str, str] = {}
        staged = copy.deepcopy(issue)
        self._apply_fields(staged, body.get("fields") or {}, errors)
        if errors:
            raise HttpError(400, error_body(**errors))
        staged.status = target
        staged.updated = self._tick()
        self.issues[issue.key] = staged
        for comment_body in comments:
            self._store_comment(staged, comment_body)
        return Response(204, None)
