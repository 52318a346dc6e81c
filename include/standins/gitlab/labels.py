"""Project labels, and the label filters and updates merge requests and issues share."""

from __future__ import annotations

import html
import re
from typing import Any

from standins.gitlab.base import GitLabBase
from standins.gitlab.state import Label, Project
from standins.http import HttpError, Request, Response


class LabelRoutes(GitLabBase):
    def _label_json(self, proj: Project, label: Label) -> dict[str, Any]:
        issues = [i for i in proj.issues.values() if label.name in i.labels]
        return {
            "id": label.id,
            "name": label.name,
            "description": label.description,
            "description_html": html.escape(label.description or ""),
            "text_color": "#FFFFFF",
            "color": label.color,
            "subscribed": False,
            "priority": None,
            "is_project_label": True,
            "open_issues_count": sum(1 for i in issues if i.state == "opened"),
            "closed_issues_count": sum(1 for i in issues if i.state == "closed"),
            "open_merge_requests_count": sum(
                1 for m in proj.merge_requests.values() if m.state == "opened" and label.name in m.labels
            ),
            "archived": False,
        }

    def _list_labels(self, request: Request) -> Response:
        proj = self._project(request)
        search = (request.arg("search") or "").lower()
        labels = [lb for lb in proj.labels.values() if search in lb.name.lower()]
        return self._paginate(request, [self._label_json(proj, lb) for lb in labels])

    def _create_label(self, request: Request) -> Response:
        proj = self._project(request)
        params = self._params(request)
        name, color = str(params.get("name") or "").strip(), str(params.get("color") or "")
        if not name or not color:
            raise HttpError(400, {"error": "name is missing" if not name else "color is missing"})
        if name in proj.labels:
            raise HttpError(409, "Label already exists")
        if not re.fullmatch(r"#[0-9A-Fa-f]{6}|#[0-9A-Fa-f]{3}|[a-z]+", color):
            raise HttpError(400, {"message": {"color": ["must be a valid color code"]}})
        label = Label(next(self._ids), name, color, params.get("description"))
        proj.labels[name] = label
        return Response(201, self._label_json(proj, label))
