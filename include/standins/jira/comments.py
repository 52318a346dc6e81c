"""Comments: list, add, edit, delete (wiki markup on Server, ADF on Cloud)."""

from __future__ import annotations

import copy
from typing import Any

from standins.http import HttpError, Request, Response
from standins.jira.base import JiraBase
from standins.jira.state import Comment, Issue, error_body


class CommentRoutes(JiraBase):
    def comment_bodies(self, key: str) -> list[Any]:
        with self.lock:
            return [copy.deepcopy(c.body) for c in self.issues[key].comments]

    def _list_comments(self, request: Request) -> dict[str, Any]:
        issue = self._issue(request.params["key"])
        start = self._int_arg(request.arg("startAt"), 0, "startAt")
        limit = self._int_arg(request.arg("maxResults"), 5000, "maxResults")
        return self._comments_page(issue, start, min(max(limit, 0), 5000))

    def _add_comment(self, request: Request) -> Response:
        issue = self._issue(request.params["key"])
        body = request.json()
        self._check_comment_body(body.get("body") if isinstance(body, dict) else None)
        comment = self._store_comment(issue, body["body"], body.get("properties"))
        return Response(201, self._comment_json(issue, comment))

    def _find_comment(self, request: Request) -> tuple[Issue, Comment]:
        issue = self._issue(request.params["key"])
        for comment in issue.comments:
            if str(comment.id) == request.params["cid"]:
                return issue, comment
        raise HttpError(404, error_body(f"Can not find a comment for the id: {request.params['cid']}."))

    def _get_comment(self, request: Request) -> dict[str, Any]:
        return self._comment_json(*self._find_comment(request))

    def _update_comment(self, request: Request) -> dict[str, Any]:
        issue, comment = self._find_comment(request)
        body = request.json()
        self._check_comment_body(body.get("body") if isinstance(body, dict) else None)
        comment.body = copy.deepcopy(body["body"])
        comment.updated = self._tick()
        return self._comment_json(issue, comment)

    def _delete_comment(self, request: Request) -> Response:
        issue, comment = self._find_comment(request)
        issue.comments.remove(comment)
        return Response(204, None)
