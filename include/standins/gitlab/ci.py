"""CI: pipelines (scripted ones advance one step per read), commit statuses, and the test helper
`set_pipeline_status`."""

from __future__ import annotations

import re
from typing import Any

from standins.gitlab.base import GitLabBase
from standins.gitlab.state import PIPELINE_STATUSES, CommitStatus, Pipeline, int_arg, now_text
from standins.http import HttpError, Request, Response


class CiRoutes(GitLabBase):
    def set_pipeline_status(
        self, project: str, sha: str, status: str, ref: str | None = None
    ) -> dict[str, Any]:
        """Record CI's verdict for `sha`: update its latest pipeline, or create one (on `ref` or the branch
        whose head is `sha`, else the default branch)."""
        if status not in PIPELINE_STATUSES:
            raise ValueError(f"{status!r} is not a GitLab pipeline status")
        with self.lock:
            proj = self._project_by_path(project)
            existing = [p for p in proj.pipelines if p.sha == sha and (ref is None or p.ref == ref)]
            now = now_text()
            if existing:
                pipeline = existing[-1]
            else:
                if ref is None:
                    heads = self.repos.heads(proj.path)
                    at_sha = [name for name, head in heads.items() if head == sha]
                    others = [name for name in at_sha if name != proj.default_branch]
                    ref = (others or at_sha or [proj.default_branch])[0]
                pipeline = Pipeline(
                    next(self._ids),
                    len(proj.pipelines) + 1,
                    proj.id,
                    sha,
                    ref,
                    status,
                    next(iter(self._users.values())),
                )
                proj.pipelines.append(pipeline)
            pipeline.status, pipeline.updated_at = status, now
            if status not in ("created", "pending", "waiting_for_resource", "preparing", "scheduled"):
                pipeline.started_at = pipeline.started_at or now
            if status in ("success", "failed", "canceled", "skipped"):
                pipeline.finished_at = now
            return self._pipeline_json(pipeline, full=True)

    def _ci_routes(self, api: str, mr: str) -> list[tuple[str, str, Any]]:
        """Registered first, so the pipeline reads below advance scripted pipelines before answering."""
        return [
            ("POST", api + "/statuses/{sha}", self._create_commit_status),
            ("GET", api + "/repository/commits/{sha}/statuses", self._list_commit_statuses),
            ("GET", mr + "/pipelines", self._advancing(self._list_mr_pipelines)),
            ("GET", api + "/pipelines", self._advancing(self._list_pipelines)),
            ("GET", api + "/pipelines/{pipeline_id}", self._advancing(self._get_pipeline)),
        ]

    def _advancing(self, handler: Any) -> Any:
        def advance_then_answer(request: Request) -> Any:
            proj = self._project(request)
            for pipeline in proj.pipelines:
                steps = proj.pipeline_scripts.get(pipeline.id)
                if steps:
                    self._move_pipeline(pipeline, steps.pop(0))
            return handler(request)

        return advance_then_answer

    def _list_pipelines(self, request: Request) -> Response:
        proj = self._project(request)
        pipelines = [
            p
            for p in proj.pipelines
            if request.arg("sha") in (None, p.sha)
            and request.arg("ref") in (None, p.ref)
            and request.arg("status") in (None, p.status)
        ]
        return self._paginate(
            request, [self._pipeline_json(p) for p in self._sorted(pipelines, request, "id")]
        )

    def _get_pipeline(self, request: Request) -> dict[str, Any]:
        proj = self._project(request)
        pid = int_arg(request.params["pipeline_id"], "pipeline_id")
        for p in proj.pipelines:
            if p.id == pid:
                return self._pipeline_json(p, full=True)
        raise HttpError(404, "404 Not found")

    def _list_mr_pipelines(self, request: Request) -> Response:
        proj = self._project(request)
        mr = self._mr(proj, int_arg(request.params["iid"], "iid"))
        pipelines = [p for p in proj.pipelines if p.ref == mr.source_branch]
        return self._paginate(
            request, [self._pipeline_json(p) for p in sorted(pipelines, key=lambda p: -p.id)]
        )

    def script_pipeline(
        self, project: str, sha: str, statuses: list[str], ref: str | None = None
    ) -> dict[str, Any]:
        """A new CI pipeline for `sha` that moves through `statuses`, one step per API read of the
        project's pipelines (created -> running -> success, say): deterministic progress with no clock.
        The last status stays. Returns the pipeline as created."""
        if not statuses or any(s not in PIPELINE_STATUSES for s in statuses):
            raise ValueError(f"{statuses!r}: need GitLab pipeline statuses")
        with self.lock:
            proj = self._project_by_path(project)
            if ref is None:
                heads = self.repos.heads(proj.path)
                ref = next((b for b, h in heads.items() if h == sha and b != proj.default_branch), None)
            pipeline = Pipeline(
                next(self._ids),
                len(proj.pipelines) + 1,
                proj.id,
                sha,
                ref or proj.default_branch,
                statuses[0],
                next(iter(self._users.values())),
            )
            proj.pipelines.append(pipeline)
            self._move_pipeline(pipeline, statuses[0])
            proj.pipeline_scripts[pipeline.id] = list(statuses[1:])
            return self._pipeline_json(pipeline, full=True)

    @staticmethod
    def _move_pipeline(pipeline: Pipeline, status: str) -> None:
        now = now_text()
        pipeline.status, pipeline.updated_at = status, now
        if status not in ("created", "pending", "waiting_for_resource", "preparing", "scheduled"):
            pipeline.started_at = pipeline.started_at or now
        if status in ("success", "failed", "canceled", "skipped"):
            pipeline.finished_at = now

    def commit_statuses(self, project: str, sha: str) -> list[dict[str, Any]]:
        """Every commit status posted for `sha`, oldest first, for assertions."""
        with self.lock:
            proj = self._project_by_path(project)
            return [self._commit_status_json(s) for s in proj.commit_statuses if s.sha == sha]

    _STATUS_STATES = ("pending", "running", "success", "failed", "canceled", "skipped")

    def _create_commit_status(self, request: Request) -> Response:
        """GitLab's rules: a pending or running status of the same name and ref moves on; a finished one
        is kept and a new one starts (so re-posting the same result adds a job: callers look first).
        A sha with no pipeline on that ref gets an `external` pipeline, as on GitLab."""
        proj = self._project(request)
        sha = request.params["sha"]
        params = self._params(request)
        state = str(params.get("state") or "")
        if state not in self._STATUS_STATES:
            raise HttpError(400, {"error": "state does not have a valid value"})
        if not re.fullmatch(r"[0-9a-f]{40}", sha) or self.repos.resolve(proj.path, sha) != sha:
            raise HttpError(404, "404 References Not Found")
        heads = self.repos.heads(proj.path)
        ref = str(params.get("ref") or next((b for b, h in heads.items() if h == sha), proj.default_branch))
        name = str(params.get("name") or params.get("context") or "default")
        now = now_text()
        pipeline = next(
            (p for p in reversed(proj.pipelines) if p.sha == sha and p.ref == ref),
            None,
        )
        if pipeline is None:
            pipeline = Pipeline(
                next(self._ids),
                len(proj.pipelines) + 1,
                proj.id,
                sha,
                ref,
                state,
                self._user(request),
                source="external",
            )
            proj.pipelines.append(pipeline)
        current = next(
            (
                s
                for s in reversed(proj.commit_statuses)
                if (s.sha, s.ref, s.name) == (sha, ref, name) and s.status in ("pending", "running")
            ),
            None,
        )
        if current is not None and current.status == state:
            raise HttpError(400, {"message": f"Cannot transition status via :{state} from :{state}"})
        status = current or CommitStatus(
            next(self._ids), proj.id, sha, ref, name, state, self._user(request), pipeline.id
        )
        status.status = state
        status.target_url = params.get("target_url", status.target_url)
        status.description = params.get("description", status.description)
        if state != "pending":
            status.started_at = status.started_at or now
        if state in ("success", "failed", "canceled", "skipped"):
            status.finished_at = now
        if current is None:
            proj.commit_statuses.append(status)
        if pipeline.source == "external":  # its only jobs are statuses: it takes the latest one's state
            pipeline.status, pipeline.updated_at = state, now
        return Response(201, self._commit_status_json(status))

    def _list_commit_statuses(self, request: Request) -> Response:
        proj = self._project(request)
        sha = request.params["sha"]
        found = [
            s
            for s in proj.commit_statuses
            if s.sha == sha and request.arg("ref") in (None, s.ref) and request.arg("name") in (None, s.name)
        ]
        if request.arg("all") not in ("true", "1"):  # GitLab: only the latest per name unless all=true
            latest: dict[str, CommitStatus] = {}
            for s in found:
                latest[s.name] = s
            found = sorted(latest.values(), key=lambda s: s.id)
        return self._paginate(request, [self._commit_status_json(s) for s in found])

    def _commit_status_json(self, s: CommitStatus) -> dict[str, Any]:
        return {
            "id": s.id,
            "sha": s.sha,
            "ref": s.ref,
            "status": s.status,
            "name": s.name,
            "stage": "external",
            "target_url": s.target_url,
            "description": s.description,
            "created_at": s.created_at,
            "started_at": s.started_at,
            "finished_at": s.finished_at,
            "allow_failure": False,
            "coverage": None,
            "pipeline_id": s.pipeline_id,
            "author": self._user_json(s.author),
        }
