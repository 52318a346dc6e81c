"""Search: JQL (parsed in jql.py) compiled to a predicate over the issues, Server's startAt paging
and Cloud's nextPageToken paging."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any, cast

from standins.http import HttpError, Request, Response
from standins.jira.base import JiraBase
from standins.jira.jql import BoolNode, Clause, JqlError, JqlQuery, parse_jql
from standins.jira.state import CATEGORIES, ISSUE_TYPES, PRIORITIES, Issue, adf_text, error_body


class SearchRoutes(JiraBase):
    def _search_params(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            body = request.json()
            if not isinstance(body, dict):
                raise HttpError(400, error_body("The search request must be a JSON object."))
            fields = body.get("fields")
            return {**body, "fields": [fields] if isinstance(fields, str) else fields}
        return {
            "jql": request.arg("jql", ""),
            "startAt": request.arg("startAt"),
            "maxResults": request.arg("maxResults"),
            "nextPageToken": request.arg("nextPageToken"),
            "fields": request.query.get("fields"),
        }

    def _matching(self, jql: str) -> tuple[JqlQuery, list[Issue]]:
        try:
            query = parse_jql(jql or "")
            predicate = self._compile(query.where)
        except JqlError as exc:
            raise HttpError(400, error_body(f"Error in the JQL Query: {exc}")) from None
        matched = [issue for issue in self.issues.values() if predicate(issue)]
        matched.sort(key=lambda i: (i.project, i.number))
        for name, descending in reversed(query.order):
            matched.sort(key=self._sort_key(name), reverse=descending)
        return query, matched

    def _search_server(self, request: Request) -> dict[str, Any]:
        params = self._search_params(request)
        _, matched = self._matching(str(params.get("jql") or ""))
        start = max(self._int_arg(params.get("startAt"), 0, "startAt"), 0)
        limit = min(max(self._int_arg(params.get("maxResults"), 50, "maxResults"), 0), self.max_results)
        wanted = self._field_selector(params.get("fields"), "*navigable")
        page = matched[start : start + limit]
        return {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": limit,
            "total": len(matched),
            "issues": [self._issue_json(issue, wanted) for issue in page],
        }

    def _search_cloud(self, request: Request) -> dict[str, Any]:
        params = self._search_params(request)
        jql = str(params.get("jql") or "")
        query, matched = self._matching(jql)
        if query.where is None:
            raise HttpError(
                400,
                error_body(
                    "Unbounded JQL queries are not allowed here. "
                    "Please add a search restriction to your query."
                ),
            )
        start = self._decode_token(params.get("nextPageToken"), jql)
        limit = min(max(self._int_arg(params.get("maxResults"), 50, "maxResults"), 1), self.max_results)
        wanted = self._field_selector(params.get("fields"), "id")
        page = matched[start : start + limit]
        out: dict[str, Any] = {"issues": [self._issue_json(issue, wanted) for issue in page]}
        if start + limit < len(matched):
            out["nextPageToken"] = self._encode_token(start + limit, jql)
            out["isLast"] = False
        else:
            out["isLast"] = True
        return out

    @staticmethod
    def _token_digest(jql: str) -> str:
        return hashlib.sha256(jql.encode()).hexdigest()[:12]

    def _encode_token(self, offset: int, jql: str) -> str:
        raw = json.dumps({"o": offset, "q": self._token_digest(jql)}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode_token(self, token: Any, jql: str) -> int:
        if not token:
            return 0
        try:
            data = json.loads(base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4)))
            if data["q"] != self._token_digest(jql):
                raise ValueError("token of another query")
            return int(data["o"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise HttpError(400, error_body("The provided next page token is invalid or expired.")) from None

    def _search_removed(self, request: Request) -> Response:
        return Response(
            410,
            error_body(
                "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
            ),
        )

    def _sort_key(self, name: str) -> Any:
        if name == "priority":
            return lambda i: len(PRIORITIES) - PRIORITIES.index(i.priority) if i.priority else 0
        if name == "created":
            return lambda i: i.created
        if name == "updated":
            return lambda i: i.updated
        return lambda i: (i.project, i.number)

    def _compile(self, node: Any) -> Any:
        """Check a parsed query against this site's data and turn it into a predicate on issues."""
        if node is None:
            return lambda issue: True
        if isinstance(node, BoolNode):
            parts = [self._compile(child) for child in node.children]
            if node.op == "and":
                return lambda issue: all(p(issue) for p in parts)
            if node.op == "or":
                return lambda issue: any(p(issue) for p in parts)
            return lambda issue: not parts[0](issue)
        clause = cast(Clause, node)
        values = [v for v in clause.values if v is not None]
        negate = clause.op in ("!=", "not in", "is not", "!~")
        if clause.field in ("labels", "component"):
            wanted = {v.lower() for v in values}

            def multi(issue: Issue) -> bool:
                have = {v.lower() for v in (issue.labels if clause.field == "labels" else issue.components)}
                if clause.op in ("is", "is not"):
                    return (not have) != negate
                # Jira: `labels != x` and `labels not in (...)` never match issues without labels.
                return bool(have) and (not (have & wanted) if negate else bool(have & wanted))

            return multi
        if clause.field in ("text", "summary", "description", "comment"):
            needle = values[0].strip("*").lower()

            def text(issue: Issue) -> bool:
                return (needle in self._issue_text(issue, clause.field)) != negate

            return text
        resolved = {self._resolve_value(clause.field, v) for v in values}
        getter = {
            "project": lambda i: i.project,
            "status": lambda i: i.status,
            "statuscategory": lambda i: self.statuses[i.status],
            "key": lambda i: i.key,
            "priority": lambda i: i.priority,
            "issuetype": lambda i: i.issuetype,
        }[clause.field]
        return lambda issue: (getter(issue) in resolved) != negate

    def _resolve_value(self, field_name: str, value: str) -> str:
        """A JQL value as stored here; unknown values are errors, as in Jira."""
        lower = value.lower()
        if field_name == "project":
            for key, project in self.projects.items():
                if lower in (key.lower(), (project.name or "").lower(), self._project_json(key)["id"]):
                    return key
            raise JqlError(f"The value '{value}' does not exist for the field 'project'.")
        if field_name == "status":
            for name in self.statuses:
                if lower == name.lower():
                    return name
            raise JqlError(f"The value '{value}' does not exist for the field 'status'.")
        if field_name == "statuscategory":
            for key, (cid, name, _) in CATEGORIES.items():
                if lower in (key, name.lower(), str(cid)):
                    return key
            raise JqlError(f"The value '{value}' does not exist for the field 'statusCategory'.")
        if field_name == "key":
            if value.upper() in self.issues:
                return value.upper()
            raise JqlError(f"An issue with key '{value}' does not exist for field 'key'.")
        if field_name == "priority":
            for name in PRIORITIES:
                if lower == name.lower():
                    return name
            raise JqlError(f"The value '{value}' does not exist for the field 'priority'.")
        for name in ISSUE_TYPES:
            if lower == name.lower():
                return name
        raise JqlError(f"The value '{value}' does not exist for the field 'issuetype'.")

    def _issue_text(self, issue: Issue, which: str) -> str:
        def text_of(body: Any) -> str:
            return adf_text(body) if isinstance(body, dict) else str(body or "")

        parts = []
        if which in ("text", "summary"):
            parts.append(issue.summary)
        if which in ("text", "description"):
            parts.append(text_of(issue.description))
        if which in ("text", "comment"):
            parts.extend(text_of(c.body) for c in issue.comments)
        return "\n".join(parts).lower()
