"""Users, projects, branches and Git smart HTTP."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from standins.git_http import BranchInfo
from standins.gitlab.base import GitLabBase
from standins.gitlab.state import Project, User, now_text
from standins.http import HttpError, Request, Response


class ProjectRoutes(GitLabBase):
    def _project_json(self, proj: Project, user: User | None = None) -> dict[str, Any]:
        web = f"{self.base_url}/{proj.path}"
        api = f"{self.base_url}/api/v4/projects/{proj.id}"
        empty = not self.repos.heads(proj.path)
        open_issues = sum(1 for i in proj.issues.values() if i.state == "opened")
        return {
            "id": proj.id,
            "description": proj.description,
            "name": proj.name,
            "name_with_namespace": proj.path.replace("/", " / "),
            "path": proj.name,
            "path_with_namespace": proj.path,
            "created_at": proj.created_at,
            "default_branch": None if empty else proj.default_branch,
            "tag_list": [],
            "topics": [],
            "ssh_url_to_repo": f"ssh://git@127.0.0.1/{proj.path}.git",
            "http_url_to_repo": f"{self.base_url}/{proj.path}.git",
            "web_url": web,
            "readme_url": None if empty else f"{web}/-/blob/{proj.default_branch}/README.md",
            "forks_count": 0,
            "avatar_url": None,
            "star_count": 0,
            "last_activity_at": now_text(),
            "visibility": "private",
            "namespace": {
                "id": proj.namespace_id,
                "name": proj.namespace.rsplit("/", 1)[-1],
                "path": proj.namespace.rsplit("/", 1)[-1],
                "kind": "group",
                "full_path": proj.namespace,
                "parent_id": None,
                "avatar_url": None,
                "web_url": f"{self.base_url}/groups/{proj.namespace}",
            },
            "container_registry_image_prefix": f"registry.example.invalid/{proj.path}",
            "_links": {
                "self": api,
                "issues": f"{api}/issues",
                "merge_requests": f"{api}/merge_requests",
                "repo_branches": f"{api}/repository/branches",
                "labels": f"{api}/labels",
                "events": f"{api}/events",
                "members": f"{api}/members",
                "cluster_agents": f"{api}/cluster_agents",
            },
            "packages_enabled": False,
            "empty_repo": empty,
            "archived": False,
            "resolve_outdated_diff_discussions": False,
            "repository_object_format": "sha1",
            "issues_enabled": True,
            "merge_requests_enabled": True,
            "wiki_enabled": False,
            "jobs_enabled": True,
            "snippets_enabled": False,
            "container_registry_enabled": False,
            "service_desk_enabled": False,
            "can_create_merge_request_in": True,
            "issues_access_level": "enabled",
            "repository_access_level": "enabled",
            "merge_requests_access_level": "enabled",
            "forking_access_level": "enabled",
            "wiki_access_level": "disabled",
            "builds_access_level": "enabled",
            "snippets_access_level": "disabled",
            "pages_access_level": "private",
            "emails_disabled": False,
            "emails_enabled": True,
            "shared_runners_enabled": True,
            "lfs_enabled": False,
            "creator_id": next(iter(self._users.values())).id,
            "import_status": "none",
            "open_issues_count": open_issues,
            "description_html": html.escape(proj.description),
            "updated_at": now_text(),
            "ci_default_git_depth": 20,
            "public_jobs": True,
            "shared_with_groups": [],
            "only_allow_merge_if_pipeline_succeeds": False,
            "allow_merge_on_skipped_pipeline": None,
            "request_access_enabled": True,
            "only_allow_merge_if_all_discussions_are_resolved": False,
            "remove_source_branch_after_merge": True,
            "printing_merge_request_link_enabled": True,
            "merge_method": "merge",
            "squash_option": "default_off",
            "autoclose_referenced_issues": True,
            "permissions": {
                "project_access": {"access_level": 30, "notification_level": 3} if user is not None else None,
                "group_access": None,
            },
        }

    def _get_user(self, request: Request) -> dict[str, Any]:
        user = self._user(request)
        data = self._user_json(user) or {}
        data.update(
            {
                "created_at": "2024-01-01T00:00:00.000Z",
                "bot": user.username.endswith("-bot"),
                "email": f"{user.username}@example.invalid",
                "is_admin": False,
            }
        )
        return data

    def _get_project(self, request: Request) -> dict[str, Any]:
        return self._project_json(self._project(request), self._user(request))

    def _list_branches(self, request: Request) -> Response:
        proj = self._project(request)
        merged = self.repos.merged_into(proj.path, proj.default_branch)
        search = request.arg("search")
        branches = [b for b in self.repos.branches(proj.path) if not search or search in b.name]
        return self._paginate(request, [self._branch_json(proj, b, merged) for b in branches])

    def _get_branch(self, request: Request) -> dict[str, Any]:
        proj = self._project(request)
        branch = self.repos.branch(proj.path, request.params["branch"])
        if branch is None:
            raise HttpError(404, "404 Branch Not Found")
        return self._branch_json(proj, branch, self.repos.merged_into(proj.path, proj.default_branch))

    def _create_branch(self, request: Request) -> Response:
        proj = self._project(request)
        params = self._params(request)
        name, ref = str(params.get("branch") or ""), str(params.get("ref") or "")
        if not name or not ref:
            raise HttpError(400, {"error": "branch is missing" if not name else "ref is missing"})
        sha = self.repos.resolve(proj.path, ref)
        if sha is None:
            raise HttpError(400, "Invalid reference name: " + ref)
        if self.repos.branch(proj.path, name) is not None:
            raise HttpError(400, "Branch already exists")
        self.repos.create_branch(proj.path, name, sha)
        branch = self.repos.branch(proj.path, name)
        assert branch is not None
        return Response(201, self._branch_json(proj, branch, set()))

    def _branch_json(self, proj: Project, branch: BranchInfo, merged: set[str]) -> dict[str, Any]:
        c = branch.commit
        commit_url = f"{self.base_url}/{proj.path}/-/commit/{c.sha}"
        protected = branch.name == proj.default_branch
        return {
            "name": branch.name,
            "merged": branch.name in merged and not protected,
            "protected": protected,
            "default": protected,
            "developers_can_push": not protected,
            "developers_can_merge": not protected,
            "can_push": not protected,
            "web_url": f"{self.base_url}/{proj.path}/-/tree/{branch.name}",
            "commit": {
                "id": c.sha,
                "short_id": c.sha[:8],
                "created_at": c.committed_date,
                "parent_ids": c.parent_ids,
                "title": c.title,
                "message": c.message,
                "author_name": c.author_name,
                "author_email": c.author_email,
                "authored_date": c.authored_date,
                "committer_name": c.committer_name,
                "committer_email": c.committer_email,
                "committed_date": c.committed_date,
                "trailers": {},
                "extended_trailers": {},
                "web_url": commit_url,
            },
        }

    def _git(self, request: Request) -> Response:
        proj = self._project_by_path(request.params["repo"])
        rest = urlsplit(request.raw_path).path.split(".git/", 1)[1]
        return self.repos.serve(request, proj.path, rest, self._user(request).username)
