"""Issues and issue links."""

from __future__ import annotations

import re
from typing import Any, Literal

from standins.gitlab.base import GitLabBase
from standins.gitlab.quick_actions import run_quick_actions
from standins.gitlab.state import INVERSE_LINK, Issue, IssueLink, Project, User, as_list, int_arg, now_text
from standins.http import HttpError, Request, Response


class IssueRoutes(GitLabBase):
    def add_issue(
        self,
        project: str,
        title: str,
        description: str = "",
        labels: list[str] | None = None,
        state: Literal["opened", "closed"] = "opened",
        author: str | None = None,
    ) -> dict[str, Any]:
        """Create an issue directly in state (fast seeding of many issues)."""
        with self.lock:
            proj = self._project_by_path(project)
            user = self._users[author] if author else next(iter(self._users.values()))
            issue = self._new_issue(proj, title, description, labels or [], user)
            if state == "closed":
                issue.state, issue.closed_at, issue.closed_by = "closed", now_text(), user
            return self._issue_json(issue)

    def issues(self, project: str) -> list[dict[str, Any]]:
        with self.lock:
            return [self._issue_json(i) for i in self._project_by_path(project).issues.values()]

    def _issue_json(self, issue: Issue) -> dict[str, Any]:
        proj = self._projects[issue.project_id]
        api = f"{self.base_url}/api/v4/projects/{proj.id}"
        tasks = re.findall(r"^\s*[-*] \[([ xX])\]", issue.description, re.MULTILINE)
        done = sum(1 for t in tasks if t in "xX")
        return {
            "id": issue.id,
            "iid": issue.iid,
            "project_id": proj.id,
            "title": issue.title,
            "description": issue.description,
            "state": issue.state,
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "closed_by": self._user_json(issue.closed_by),
            "labels": list(issue.labels),
            "milestone": None,
            "assignees": [],
            "author": self._user_json(issue.author),
            "type": "ISSUE",
            "assignee": None,
            "user_notes_count": len(issue.notes),
            "merge_requests_count": 0,
            "upvotes": 0,
            "downvotes": 0,
            "due_date": None,
            "confidential": False,
            "discussion_locked": None,
            "issue_type": "issue",
            "web_url": f"{self.base_url}/{proj.path}/-/issues/{issue.iid}",
            "time_stats": self._time_stats(),
            "task_completion_status": {"count": len(tasks), "completed_count": done},
            # GitLab's meaning: the open issues this issue blocks (not the ones blocking it).
            "blocking_issues_count": sum(1 for link in self._links if self._blocks_open(link, issue)),
            "has_tasks": bool(tasks),
            "task_status": f"{done} of {len(tasks)} checklist items completed",
            "_links": {
                "self": f"{api}/issues/{issue.iid}",
                "notes": f"{api}/issues/{issue.iid}/notes",
                "award_emoji": f"{api}/issues/{issue.iid}/award_emoji",
                "project": api,
                "closed_as_duplicate_of": None,
            },
            "references": self._references(proj, issue.iid, "#"),
            "severity": "UNKNOWN",
            "moved_to_id": None,
            "imported": False,
            "imported_from": "none",
            "service_desk_reply_to": None,
        }

    @staticmethod
    def _blocks_open(link: IssueLink, issue: Issue) -> bool:
        """Whether `link` says `issue` blocks an open issue (what GitLab's blocking_issues_count counts)."""
        if link.source is issue and link.link_type == "blocks":
            return link.target.state == "opened"
        if link.target is issue and link.link_type == "is_blocked_by":
            return link.source.state == "opened"
        return False

    def _related_json(self, link: IssueLink, other: Issue, link_type: str) -> dict[str, Any]:
        data = self._issue_json(other)
        data.update(
            {
                "issue_link_id": link.id,
                "link_type": link_type,
                "link_created_at": link.created_at,
                "link_updated_at": link.created_at,
            }
        )
        return data

    def _new_issue(
        self, proj: Project, title: str, description: str, labels: list[str], author: User
    ) -> Issue:
        self._ensure_project_labels(proj, labels)
        issue = Issue(
            next(self._ids), len(proj.issues) + 1, proj.id, title, description, list(labels), author
        )
        proj.issues[issue.iid] = issue
        return issue

    def _list_issues(self, request: Request) -> Response:
        proj = self._project(request)
        state = request.arg("state", "all")
        search = (request.arg("search") or "").lower()
        within = request.arg("in", "title,description") or "title,description"
        iids = {int(v) for v in request.query.get("iids[]", []) if v.isdigit()}
        issues = [
            i
            for i in proj.issues.values()
            if state in ("all", i.state)
            and self._label_filter(i.labels, request.arg("labels"))
            and (not iids or i.iid in iids)
            and request.arg("author_username") in (None, i.author.username)
            and request.arg("author_id") in (None, str(i.author.id))
            and (
                not search
                or ("title" in within and search in i.title.lower())
                or ("description" in within and search in i.description.lower())
            )
        ]
        return self._paginate(request, self._sorted(issues, request), render=self._issue_json)

    def _create_issue(self, request: Request) -> Response:
        proj = self._project(request)
        params = self._params(request)
        if not params.get("title"):
            raise HttpError(400, {"error": "title is missing"})
        issue = self._new_issue(
            proj,
            str(params["title"]),
            str(params.get("description") or ""),
            as_list(params.get("labels")),
            self._user(request),
        )
        issue.description = run_quick_actions(
            self, proj, issue, issue.author, issue.description, "description"
        )
        return Response(201, self._issue_json(issue))

    def _get_issue(self, request: Request) -> dict[str, Any]:
        proj = self._project(request)
        return self._issue_json(self._issue(proj, int_arg(request.params["iid"], "iid")))

    def _update_issue(self, request: Request) -> dict[str, Any]:
        proj = self._project(request)
        issue = self._issue(proj, int_arg(request.params["iid"], "iid"))
        params = self._params(request)
        if "title" in params:
            issue.title = str(params["title"])
        if "description" in params:
            issue.description = str(params["description"] or "")
        issue.labels = self._updated_labels(proj, issue.labels, params)
        event = params.get("state_event")
        if event == "close" and issue.state == "opened":
            issue.state, issue.closed_at, issue.closed_by = "closed", now_text(), self._user(request)
        elif event == "reopen" and issue.state == "closed":
            issue.state, issue.closed_at, issue.closed_by = "opened", None, None
        elif event not in (None, "", "close", "reopen"):
            raise HttpError(400, {"error": "state_event does not have a valid value"})
        if "description" in params:
            issue.description = run_quick_actions(
                self, proj, issue, self._user(request), issue.description, "description"
            )
        issue.updated_at = now_text()
        return self._issue_json(issue)

    def _list_links(self, request: Request) -> list[dict[str, Any]]:
        proj = self._project(request)
        issue = self._issue(proj, int_arg(request.params["iid"], "iid"))
        related = []
        for link in self._links:
            if link.source is issue:
                related.append(self._related_json(link, link.target, link.link_type))
            elif link.target is issue:
                related.append(self._related_json(link, link.source, INVERSE_LINK[link.link_type]))
        return related

    def _create_link(self, request: Request) -> Response:
        proj = self._project(request)
        source = self._issue(proj, int_arg(request.params["iid"], "iid"))
        params = self._params(request)
        target_ident = str(params.get("target_project_id") or "")
        if not target_ident or not params.get("target_issue_iid"):
            raise HttpError(400, {"error": "target_project_id is missing, target_issue_iid is missing"})
        target_proj = (
            self._projects.get(int(target_ident))
            if target_ident.isdigit()
            else self._project_by_path(target_ident)
        )
        if target_proj is None:
            raise HttpError(404, "404 Project Not Found")
        target = self._issue(target_proj, int_arg(str(params["target_issue_iid"]), "target_issue_iid"))
        link_type = str(params.get("link_type") or "relates_to")
        if link_type not in INVERSE_LINK:
            raise HttpError(400, {"error": "link_type does not have a valid value"})
        if target is source:
            raise HttpError(400, "Cannot link an issue to itself")
        for link in self._links:
            if {link.source.id, link.target.id} == {source.id, target.id}:
                raise HttpError(409, "Issue(s) already assigned")
        link = IssueLink(next(self._ids), source, target, link_type)
        self._links.append(link)
        return Response(
            201,
            {
                "source_issue": self._issue_json(source),
                "target_issue": self._issue_json(target),
                "link_type": link_type,
            },
        )
