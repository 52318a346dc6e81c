"""Shared by every resource: the in-memory state, lookups that answer GitLab's 404s, request
parameters and GitLab's offset pagination."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from standins.git_http import BareRepositories
from standins.gitlab.state import (
    DEFAULT_LABEL_COLOR,
    Grant,
    Issue,
    IssueLink,
    Label,
    MergeRequest,
    Pipeline,
    Project,
    QuickAction,
    User,
    as_list,
    int_arg,
    merge_labels,
    parse_time,
)
from standins.http import HttpError, Request, Response, StandinServer


class GitLabBase(StandinServer):
    """State and helpers every resource's routes use; GitLabStandin (server.py) fills them in."""

    repos: BareRepositories
    quick_actions: list[QuickAction]
    _ids: itertools.count[int]
    _users: dict[str, User]
    _tokens: dict[str, Grant]
    _projects: dict[int, Project]
    _links: list[IssueLink]

    def _project_by_path(self, path: str) -> Project:
        for proj in self._projects.values():
            if proj.path == path:
                return proj
        raise HttpError(404, "404 Project Not Found")

    def _project(self, request: Request) -> Project:
        ident = request.params["id"]
        if ident.isdigit():
            proj = self._projects.get(int(ident))
            if proj is None:
                raise HttpError(404, "404 Project Not Found")
            return proj
        return self._project_by_path(ident)

    @staticmethod
    def _mr(proj: Project, iid: int) -> MergeRequest:
        mr = proj.merge_requests.get(iid)
        if mr is None:
            raise HttpError(404, "404 Merge Request Not Found")
        return mr

    @staticmethod
    def _issue(proj: Project, iid: int) -> Issue:
        issue = proj.issues.get(iid)
        if issue is None:
            raise HttpError(404, "404 Issue Not Found")
        return issue

    def _noteable(self, request: Request) -> tuple[Project, MergeRequest | Issue]:
        proj = self._project(request)
        iid = int_arg(request.params["iid"], "iid")
        owner = self._mr(proj, iid) if "/merge_requests/" in request.raw_path else self._issue(proj, iid)
        return proj, owner

    @staticmethod
    def _user(request: Request) -> User:
        return request.context["user"]

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
        body = request.json()
        if isinstance(body, dict):
            params.update(body)
        return params

    def _paginate(
        self, request: Request, items: list[Any], render: Callable[[Any], Any] | None = None
    ) -> Response:
        """GitLab's offset pagination: X-Total/X-Next-Page headers and a Link header python-gitlab follows.

        `render` turns only the page's items into JSON: rendering all 10,000 issues for each page of 100
        made a full listing quadratic, a cost real GitLab does not have.
        """
        per_page = min(max(int_arg(request.arg("per_page", "20") or "20", "per_page"), 1), 100)
        page = max(int_arg(request.arg("page", "1") or "1", "page"), 1)
        total = len(items)
        total_pages = max(math.ceil(total / per_page), 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        if render is not None:
            chunk = [render(item) for item in chunk]
        split = urlsplit(request.raw_path)

        def page_url(n: int) -> str:
            query = {k: v for k, v in request.query.items() if k not in ("page", "per_page")}
            query.update({"page": [str(n)], "per_page": [str(per_page)]})
            return f"{self.base_url}{split.path}?{urlencode(query, doseq=True)}"

        links = []
        if page < total_pages:
            links.append(f'<{page_url(page + 1)}>; rel="next"')
        if page > 1:
            links.append(f'<{page_url(page - 1)}>; rel="prev"')
        links += [f'<{page_url(1)}>; rel="first"', f'<{page_url(total_pages)}>; rel="last"']
        headers = {
            "X-Total": str(total),
            "X-Total-Pages": str(total_pages),
            "X-Per-Page": str(per_page),
            "X-Page": str(page),
            "X-Next-Page": str(page + 1) if page < total_pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "Link": ", ".join(links),
        }
        return Response(body=chunk, headers=headers)

    def _user_json(self, user: User | None) -> dict[str, Any] | None:
        if user is None:
            return None
        return {
            "id": user.id,
            "username": user.username,
            "public_email": None,
            "name": user.name,
            "state": "active",
            "locked": False,
            "avatar_url": None,
            "web_url": f"{self.base_url}/{user.username}",
        }

    @staticmethod
    def _sorted(items: list[Any], request: Request, default_order: str = "created_at") -> list[Any]:
        order_by = request.arg("order_by", default_order) or default_order
        key = {"updated_at": lambda x: (x.updated_at, x.id), "id": lambda x: x.id}.get(
            order_by, lambda x: (x.created_at, x.id)
        )
        return sorted(items, key=key, reverse=(request.arg("sort", "desc") != "asc"))

    @staticmethod
    def _label_filter(labels: list[str], wanted: str | None) -> bool:
        if not wanted:
            return True
        if wanted == "None":
            return not labels
        if wanted == "Any":
            return bool(labels)
        return all(name in labels for name in as_list(wanted))

    def _updated_labels(self, proj: Project, current: list[str], params: dict[str, Any]) -> list[str]:
        labels = as_list(params["labels"]) if "labels" in params else list(current)
        labels = merge_labels(labels, as_list(params.get("add_labels")), as_list(params.get("remove_labels")))
        self._ensure_project_labels(proj, labels)
        return labels

    def _ensure_project_labels(self, proj: Project, names: list[str]) -> None:
        """GitLab creates a project label on first use in an issue or MR."""
        for name in names:
            if name not in proj.labels:
                proj.labels[name] = Label(next(self._ids), name, DEFAULT_LABEL_COLOR, None)

    def _references(self, proj: Project, iid: int, sigil: str) -> dict[str, str]:
        return {"short": f"{sigil}{iid}", "relative": f"{sigil}{iid}", "full": f"{proj.path}{sigil}{iid}"}

    def _time_stats(self) -> dict[str, Any]:
        return {
            "time_estimate": 0,
            "total_time_spent": 0,
            "human_time_estimate": None,
            "human_total_time_spent": None,
        }

    def _mr_sha(self, proj: Project, mr: MergeRequest, heads: dict[str, str] | None) -> str | None:
        if mr.frozen_sha is not None or mr.state != "opened":
            return mr.frozen_sha
        heads = self.repos.heads(proj.path) if heads is None else heads
        return heads.get(mr.source_branch)

    def _pipeline_json(self, p: Pipeline, *, full: bool = False) -> dict[str, Any]:
        proj = self._projects[p.project_id]
        web = f"{self.base_url}/{proj.path}/-/pipelines/{p.id}"
        data: dict[str, Any] = {
            "id": p.id,
            "iid": p.iid,
            "project_id": p.project_id,
            "sha": p.sha,
            "ref": p.ref,
            "status": p.status,
            "source": p.source,
            "created_at": p.created_at,
            "updated_at": p.updated_at,
            "web_url": web,
        }
        if full:
            duration = None
            if p.started_at and p.finished_at:
                duration = int((parse_time(p.finished_at) - parse_time(p.started_at)).total_seconds())
            data.update(
                {
                    "before_sha": "0" * 40,
                    "tag": False,
                    "yaml_errors": None,
                    "user": self._user_json(p.user),
                    "started_at": p.started_at,
                    "finished_at": p.finished_at,
                    "committed_at": None,
                    "duration": duration,
                    "queued_duration": None,
                    "coverage": None,
                    "archived": False,
                    "name": None,
                    "detailed_status": {
                        "icon": f"status_{p.status}",
                        "text": p.status,
                        "label": p.status,
                        "group": p.status,
                        "tooltip": p.status,
                        "has_details": True,
                        "details_path": urlsplit(web).path,
                        "illustration": None,
                        "favicon": f"/assets/ci_favicons/favicon_status_{p.status}.png",
                    },
                }
            )
        return data

    # --- provided by MergeRequestRoutes, used by quick actions and the web pages --------------------------
    def merge(self, project: str, mr_iid: int, username: str | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def _mr_json(
        self, proj: Project, mr: MergeRequest, heads: dict[str, str] | None = None, *, full: bool = True
    ) -> dict[str, Any]:
        raise NotImplementedError
