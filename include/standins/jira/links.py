"""Issue links."""

from __future__ import annotations

from standins.http import HttpError, Request, Response
from standins.jira.base import JiraBase
from standins.jira.state import Link, error_body


class LinkRoutes(JiraBase):
    def add_link(self, type_name: str, source: str, target: str) -> None:
        """Link `source` to `target` (read "source <outward phrase> target": A blocks B)."""
        with self.lock:
            self._link_type(type_name)
            for key in (source, target):
                if key not in self.issues:
                    raise ValueError(f"unknown issue {key}")
            if not any(
                lk.type == type_name and lk.source == source and lk.target == target for lk in self.links
            ):
                self.links.append(Link(self._next_link_id, type_name, source, target))
                self._next_link_id += 1

    def links_of(self, key: str) -> list[tuple[str, str, str]]:
        """(type, source, target) of every link touching `key`."""
        with self.lock:
            return [(lk.type, lk.source, lk.target) for lk in self.links if key in (lk.source, lk.target)]

    def _create_link(self, request: Request) -> Response:
        body = request.json()
        type_ref = body.get("type") or {}
        try:
            link_type = self._link_type(str(type_ref.get("name") or type_ref.get("id") or ""))
        except ValueError:
            raise HttpError(
                404, error_body(f"No issue link type with name '{type_ref.get('name')}' found.")
            ) from None
        source = self._issue(
            str((body.get("inwardIssue") or {}).get("key") or (body.get("inwardIssue") or {}).get("id"))
        )
        target = self._issue(
            str((body.get("outwardIssue") or {}).get("key") or (body.get("outwardIssue") or {}).get("id"))
        )
        if source.key == target.key:
            raise HttpError(400, error_body("You cannot link an issue to itself."))
        self.add_link(link_type[1], source.key, target.key)
        comment = body.get("comment")
        if isinstance(comment, dict) and comment.get("body"):
            self._check_comment_body(comment["body"])
            self._store_comment(target, comment["body"])
        return Response(201, b"", content_type="text/plain;charset=UTF-8")  # Jira: 201, empty body
