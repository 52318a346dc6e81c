"""HTML pages for people following web_url links, rendered from standins/templates/gitlab_*.html."""

from __future__ import annotations

from standins.gitlab.base import GitLabBase
from standins.gitlab.state import Project, int_arg
from standins.http import HttpError, Request, Response
from standins.pages import page

BANNER = "GitLab stand-in (a test double, not GitLab)"


class WebPages(GitLabBase):
    def _web_project(self, request: Request) -> Project:
        return self._project_by_path(request.params["ns"])

    def _mr_page(self, request: Request) -> Response:
        proj = self._web_project(request)
        mr = self._mr(proj, int_arg(request.params["iid"], "iid"))
        data = self._mr_json(proj, mr)  # from MergeRequestRoutes
        return page(
            "gitlab_mr.html",
            banner=BANNER,
            project=proj,
            mr=mr,
            sha=str(data["sha"]),
            pipeline=data["head_pipeline"]["status"] if data["head_pipeline"] else "none",
            approvers=[user.name for user, _ in mr.approvals],
        )

    def _issue_page(self, request: Request) -> Response:
        proj = self._web_project(request)
        issue = self._issue(proj, int_arg(request.params["iid"], "iid"))
        return page("gitlab_issue.html", banner=BANNER, project=proj, issue=issue)

    def _pipeline_page(self, request: Request) -> Response:
        proj = self._web_project(request)
        pid = int_arg(request.params["pipeline_id"], "pipeline_id")
        for pipeline in proj.pipelines:
            if pipeline.id == pid:
                return page("gitlab_pipeline.html", banner=BANNER, pipeline=pipeline)
        raise HttpError(404, "404 Not found")

    def _project_page(self, request: Request) -> Response:
        proj = self._web_project(request)
        return page("gitlab_project.html", banner=BANNER, project=proj, base_url=self.base_url)
