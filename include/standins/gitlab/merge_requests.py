"""Merge requests: create, list, update, approvals, merge (the test helpers `approve` and `merge`
act as a reviewer would)."""

from __future__ import annotations

from typing import Any

from standins.gitlab.base import GitLabBase
from standins.gitlab.quick_actions import run_quick_actions
from standins.gitlab.state import MergeRequest, Project, as_list, int_arg, now_text
from standins.http import HttpError, Request, Response


class MergeRequestRoutes(GitLabBase):
    def approve(self, project: str, mr_iid: int, username: str) -> None:
        """A reviewer approves the MR (Nightshift itself never approves)."""
        with self.lock:
            mr = self._mr(self._project_by_path(project), mr_iid)
            user = self._users[username]
            if all(u.id != user.id for u, _ in mr.approvals):
                mr.approvals.append((user, now_text()))

    def merge(self, project: str, mr_iid: int, username: str | None = None) -> dict[str, Any]:
        """A maintainer merges the MR: state, merged_at, merged_by; the target branch fast-forwards."""
        with self.lock:
            proj = self._project_by_path(project)
            mr = self._mr(proj, mr_iid)
            if mr.state != "opened":
                raise ValueError(f"!{mr_iid} is {mr.state}, not open")
            sha = self.repos.heads(proj.path).get(mr.source_branch)
            if sha is not None:
                self.repos.fast_forward(proj.path, mr.target_branch, sha)
            user = self._users[username] if username else next(iter(self._users.values()))
            mr.state, mr.merged_at, mr.merged_by = "merged", now_text(), user
            mr.frozen_sha = mr.merge_commit_sha = sha
            mr.updated_at = mr.merged_at
            return self._mr_json(proj, mr)

    def merge_requests(self, project: str) -> list[dict[str, Any]]:
        """Every MR of the project, for assertions."""
        with self.lock:
            proj = self._project_by_path(project)
            return [self._mr_json(proj, mr) for mr in proj.merge_requests.values()]

    @staticmethod
    def _mr_head(proj: Project, mr: MergeRequest) -> dict[str, Any]:
        """The fields GitLab puts first in every merge request shape (the MR itself, its approvals)."""
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": proj.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": mr.created_at,
            "updated_at": mr.updated_at,
        }

    def _mr_json(
        self, proj: Project, mr: MergeRequest, heads: dict[str, str] | None = None, *, full: bool = True
    ) -> dict[str, Any]:
        heads = self.repos.heads(proj.path) if heads is None else heads
        sha = self._mr_sha(proj, mr, heads)
        if mr.state != "opened":
            detailed = "not_open"
        elif mr.draft:
            detailed = "draft_status"
        else:
            detailed = "mergeable"
        data: dict[str, Any] = {
            **self._mr_head(proj, mr),
            "merged_by": self._user_json(mr.merged_by),
            "merge_user": self._user_json(mr.merged_by),
            "merged_at": mr.merged_at,
            "closed_by": self._user_json(mr.closed_by),
            "closed_at": mr.closed_at,
            "target_branch": mr.target_branch,
            "source_branch": mr.source_branch,
            "user_notes_count": len(mr.notes),
            "upvotes": 0,
            "downvotes": 0,
            "author": self._user_json(mr.author),
            "assignees": [],
            "assignee": None,
            "reviewers": [],
            "source_project_id": proj.id,
            "target_project_id": proj.id,
            "labels": list(mr.labels),
            "draft": mr.draft,
            "imported": False,
            "imported_from": "none",
            "work_in_progress": mr.draft,
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": "can_be_merged" if mr.state == "opened" else "unchecked",
            "detailed_merge_status": detailed,
            "merge_after": None,
            "sha": sha,
            "merge_commit_sha": mr.merge_commit_sha,
            "squash_commit_sha": None,
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": True,
            "prepared_at": mr.created_at,
            "reference": f"!{mr.iid}",
            "references": self._references(proj, mr.iid, "!"),
            "web_url": f"{self.base_url}/{proj.path}/-/merge_requests/{mr.iid}",
            "time_stats": self._time_stats(),
            "squash": False,
            "squash_on_merge": False,
            "task_completion_status": {"count": 0, "completed_count": 0},
            "has_conflicts": False,
            "blocking_discussions_resolved": True,
        }
        if full:
            pipelines = [p for p in proj.pipelines if sha is not None and p.sha == sha]
            head = pipelines[-1] if pipelines else None
            target_sha = heads.get(mr.target_branch)
            data.update(
                {
                    "subscribed": True,
                    "changes_count": None,
                    "latest_build_started_at": None,
                    "latest_build_finished_at": None,
                    "first_deployed_to_production_at": None,
                    "pipeline": self._pipeline_json(head) if head else None,
                    "head_pipeline": self._pipeline_json(head, full=True) if head else None,
                    "diff_refs": {"base_sha": target_sha, "head_sha": sha, "start_sha": target_sha},
                    "merge_error": None,
                    "rebase_in_progress": False,
                    "diverged_commits_count": 0,
                    "first_contribution": False,
                    "user": {"can_merge": True},
                }
            )
        return data

    def _list_mrs(self, request: Request) -> Response:
        proj = self._project(request)
        state = request.arg("state", "all")
        mrs = [
            m
            for m in proj.merge_requests.values()
            if state in ("all", m.state)
            and request.arg("source_branch") in (None, m.source_branch)
            and request.arg("target_branch") in (None, m.target_branch)
            and self._label_filter(m.labels, request.arg("labels"))
        ]
        heads = self.repos.heads(proj.path)
        return self._paginate(
            request, [self._mr_json(proj, m, heads, full=False) for m in self._sorted(mrs, request)]
        )

    def _create_mr(self, request: Request) -> Response:
        proj = self._project(request)
        params = self._params(request)
        missing = [k for k in ("source_branch", "target_branch", "title") if not params.get(k)]
        if missing:
            raise HttpError(400, {"error": ", ".join(f"{k} is missing" for k in missing)})
        source, target = str(params["source_branch"]), str(params["target_branch"])
        heads = self.repos.heads(proj.path)
        for kind, branch in (("Source", source), ("Target", target)):
            if branch not in heads:
                raise HttpError(422, [f'{kind} branch "{branch}" does not exist'])
        if source == target:
            raise HttpError(422, ["You can't use same project/branch for source and target"])
        for other in proj.merge_requests.values():
            if other.state == "opened" and other.source_branch == source:
                raise HttpError(
                    409, [f"Another open merge request already exists for this source branch: !{other.iid}"]
                )
        labels = as_list(params.get("labels"))
        self._ensure_project_labels(proj, labels)
        mr = MergeRequest(
            next(self._ids),
            len(proj.merge_requests) + 1,
            proj.id,
            str(params["title"]),
            str(params.get("description") or ""),
            source,
            target,
            labels,
            self._user(request),
        )
        proj.merge_requests[mr.iid] = mr
        mr.description = run_quick_actions(self, proj, mr, mr.author, mr.description, "description")
        return Response(201, self._mr_json(proj, mr))

    def _get_mr(self, request: Request) -> dict[str, Any]:
        proj = self._project(request)
        return self._mr_json(proj, self._mr(proj, int_arg(request.params["iid"], "iid")))

    def _update_mr(self, request: Request) -> dict[str, Any]:
        proj = self._project(request)
        mr = self._mr(proj, int_arg(request.params["iid"], "iid"))
        params = self._params(request)
        user = self._user(request)
        if "title" in params:
            mr.title = str(params["title"])
        if "description" in params:
            mr.description = str(params["description"] or "")
        if "target_branch" in params:
            if params["target_branch"] not in self.repos.heads(proj.path):
                raise HttpError(422, [f'Target branch "{params["target_branch"]}" does not exist'])
            mr.target_branch = str(params["target_branch"])
        mr.labels = self._updated_labels(proj, mr.labels, params)
        event = params.get("state_event")
        if event == "close" and mr.state == "opened":
            mr.frozen_sha = self._mr_sha(proj, mr, None)
            mr.state, mr.closed_at, mr.closed_by = "closed", now_text(), user
        elif event == "reopen" and mr.state == "closed":
            if any(
                o.state == "opened" and o.source_branch == mr.source_branch
                for o in proj.merge_requests.values()
            ):
                raise HttpError(
                    409, [f"Another open merge request already exists for this source branch: !{mr.iid}"]
                )
            mr.state, mr.closed_at, mr.closed_by, mr.frozen_sha = "opened", None, None, None
        elif event not in (None, "", "close", "reopen"):
            raise HttpError(400, {"error": "state_event does not have a valid value"})
        if "description" in params:
            mr.description = run_quick_actions(self, proj, mr, user, mr.description, "description")
        mr.updated_at = now_text()
        return self._mr_json(proj, mr)

    def _get_approvals(self, request: Request) -> dict[str, Any]:
        proj = self._project(request)
        mr = self._mr(proj, int_arg(request.params["iid"], "iid"))
        user = self._user(request)
        return {
            **self._mr_head(proj, mr),
            "merge_status": "can_be_merged",
            "approved": bool(mr.approvals),
            "approvals_required": 0,
            "approvals_left": 0,
            "require_password_to_approve": False,
            "approved_by": [{"user": self._user_json(u), "approved_at": at} for u, at in mr.approvals],
            "suggested_approvers": [],
            "approvers": [],
            "approver_groups": [],
            "user_has_approved": any(u.id == user.id for u, _ in mr.approvals),
            "user_can_approve": user.id != mr.author.id,
            "approval_rules_left": [],
            "has_approval_rules": False,
            "merge_request_approvers_available": False,
            "multiple_approval_rules_available": False,
            "invalid_approvers_rules": [],
        }
