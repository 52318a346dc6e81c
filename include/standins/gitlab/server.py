"""A GitLab stand-in (a test double, not GitLab): the REST v4 subset Nightshift uses, plus Git smart HTTP.

State lives in memory, seeded from a JSON-able dict (see `GitLabSeed`); each project has a real bare git
repository, so branches pushed with `git push` appear in the branches API and MRs carry real shas.
JSON shapes follow GitLab's (checked in the tests against gitlab-rest-v4.subset.yaml in ../shared/specs,
next to the repository).
Test helpers (`approve`, `merge`, `set_pipeline_status`, `add_issue`) change state the way people and CI do.

The server class is assembled from one mixin per resource (projects, merge_requests, notes, issues,
labels, ci, web); seed.py and state.py hold the data they share.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from standins.git_http import BareRepositories, GitError
from standins.gitlab.base import GitLabBase
from standins.gitlab.ci import CiRoutes
from standins.gitlab.issues import IssueRoutes
from standins.gitlab.labels import LabelRoutes
from standins.gitlab.merge_requests import MergeRequestRoutes
from standins.gitlab.notes import NoteRoutes
from standins.gitlab.projects import ProjectRoutes
from standins.gitlab.quick_actions import QuickAction
from standins.gitlab.seed import GitLabSeed, SeedToken, SeedUser, default_seed
from standins.gitlab.state import Grant, IssueLink, Label, Project, User, now_text
from standins.gitlab.web import WebPages
from standins.http import HttpError, Request, Response


class GitLabStandin(
    ProjectRoutes, MergeRequestRoutes, NoteRoutes, IssueRoutes, LabelRoutes, CiRoutes, WebPages, GitLabBase
):
    """The GitLab stand-in server. Start with `start()` (or `standins.fixtures.start_gitlab`)."""

    name = "gitlab"

    def __init__(
        self, seed: dict[str, Any] | GitLabSeed | None = None, state_dir: Path | None = None
    ) -> None:
        super().__init__()
        model = (
            seed
            if isinstance(seed, GitLabSeed)
            else GitLabSeed.model_validate(default_seed() if seed is None else seed)
        )
        self._own_state_dir = state_dir is None
        self.state_dir = Path(tempfile.mkdtemp(prefix="gitlab-standin-")) if state_dir is None else state_dir
        self.repos = BareRepositories(self.state_dir / "repositories")
        self._ids = itertools.count(1)
        self._users: dict[str, User] = {}
        self._tokens: dict[str, Grant] = {}
        self._projects: dict[int, Project] = {}
        self._links: list[IssueLink] = []
        self.quick_actions: list[QuickAction] = []  # every executed `/command`, in order
        self._apply_seed(model)
        self._register_routes()

    @property
    def token(self) -> str:
        """A token with the `api` scope (the pipeline's)."""
        return next(t for t, g in self._tokens.items() if g.api_write)

    @property
    def read_only_token(self) -> str | None:
        return next((t for t, g in self._tokens.items() if not g.api_write), None)

    @property
    def project_paths(self) -> list[str]:
        return [proj.path for proj in self._projects.values()]

    def project_url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    def repo_url(self, path: str, token: str | None = None, username: str = "oauth2") -> str:
        """The HTTPS-style clone URL; with `token`, credentials embedded as GitLab accepts them."""
        base = self.base_url
        if token is not None:
            base = base.replace("http://", f"http://{username}:{token}@", 1)
        return f"{base}/{path}.git"

    def stop(self) -> None:
        super().stop()
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def _apply_seed(self, seed: GitLabSeed) -> None:
        users = seed.users or [SeedUser(username="nightshift-bot", name="Nightshift Bot")]
        for user in users:
            self._users[user.username] = User(next(self._ids), user.username, user.name or user.username)
        tokens = seed.tokens or [
            SeedToken(token=f"glpat-standin-{secrets.token_hex(10)}", user=users[0].username)
        ]
        for token in tokens:
            if token.user not in self._users:
                raise ValueError(f"token for unknown user {token.user!r}")
            self._tokens[token.token] = Grant(self._users[token.user], list(token.scopes))
        namespaces: dict[str, int] = {}
        for sp in seed.projects:
            ns = sp.path_with_namespace.rsplit("/", 1)[0]
            proj = Project(
                next(self._ids),
                sp.path_with_namespace,
                sp.description,
                sp.default_branch,
                namespaces.setdefault(ns, next(self._ids)),
            )
            self._projects[proj.id] = proj
            self.repos.create(
                proj.path, proj.default_branch, seed_dir=sp.repository.seed_dir, files=sp.repository.files
            )
            for label in sp.labels:
                proj.labels[label.name] = Label(next(self._ids), label.name, label.color, label.description)
            for si in sp.issues:
                author = self._users[si.author] if si.author else next(iter(self._users.values()))
                issue = self._new_issue(proj, si.title, si.description, si.labels, author)
                if si.state == "closed":
                    issue.state, issue.closed_at = "closed", now_text()
        for sp in seed.projects:
            proj = self._project_by_path(sp.path_with_namespace)
            for link in sp.issue_links:
                target_proj = self._project_by_path(link.target_project or proj.path)
                self._links.append(
                    IssueLink(
                        next(self._ids),
                        self._issue(proj, link.source_iid),
                        self._issue(target_proj, link.target_iid),
                        link.link_type,
                    )
                )

    def _register_routes(self) -> None:
        api = "/api/v4/projects/{id}"
        mr = api + "/merge_requests/{iid}"
        issue = api + "/issues/{iid}"
        for method, pattern, handler in [
            *self._ci_routes(api, mr),
            ("GET", "/api/v4/user", self._get_user),
            ("GET", api, self._get_project),
            ("GET", api + "/repository/branches", self._list_branches),
            ("POST", api + "/repository/branches", self._create_branch),
            ("GET", api + "/repository/branches/{branch}", self._get_branch),
            ("GET", api + "/merge_requests", self._list_mrs),
            ("POST", api + "/merge_requests", self._create_mr),
            ("GET", mr, self._get_mr),
            ("PUT", mr, self._update_mr),
            ("GET", mr + "/notes", self._list_notes),
            ("POST", mr + "/notes", self._create_note),
            ("GET", mr + "/notes/{note_id}", self._get_note),
            ("PUT", mr + "/notes/{note_id}", self._update_note),
            ("DELETE", mr + "/notes/{note_id}", self._delete_note),
            ("GET", mr + "/approvals", self._get_approvals),
            ("GET", mr + "/pipelines", self._list_mr_pipelines),
            ("GET", api + "/labels", self._list_labels),
            ("POST", api + "/labels", self._create_label),
            ("GET", api + "/issues", self._list_issues),
            ("POST", api + "/issues", self._create_issue),
            ("GET", issue, self._get_issue),
            ("PUT", issue, self._update_issue),
            ("GET", issue + "/notes", self._list_notes),
            ("POST", issue + "/notes", self._create_note),
            ("GET", issue + "/notes/{note_id}", self._get_note),
            ("PUT", issue + "/notes/{note_id}", self._update_note),
            ("DELETE", issue + "/notes/{note_id}", self._delete_note),
            ("GET", issue + "/links", self._list_links),
            ("POST", issue + "/links", self._create_link),
            ("GET", api + "/pipelines", self._list_pipelines),
            ("GET", api + "/pipelines/{pipeline_id}", self._get_pipeline),
            ("GET", r"/{repo:path}\.git/info/refs", self._git),
            ("POST", r"/{repo:path}\.git/git-upload-pack", self._git),
            ("POST", r"/{repo:path}\.git/git-receive-pack", self._git),
            ("GET", "/{ns:path}/-/merge_requests/{iid}", self._mr_page),
            ("GET", "/{ns:path}/-/issues/{iid}", self._issue_page),
            ("GET", "/{ns:path}/-/pipelines/{pipeline_id}", self._pipeline_page),
            ("GET", "/{ns:path}", self._project_page),
        ]:
            self.route(method, pattern, handler)

    def authenticate(self, request: Request) -> None:
        path = urlsplit(request.raw_path).path
        if path.startswith("/api/"):
            auth = request.headers.get("authorization", "")
            token = request.headers.get("private-token") or (
                auth[7:] if auth.lower().startswith("bearer ") else ""
            )
            grant = self._tokens.get(token) if token else None
            if grant is None:
                raise HttpError(401, "401 Unauthorized")
            if request.method not in ("GET", "HEAD") and not grant.api_write:
                raise HttpError(
                    403,
                    {
                        "error": "insufficient_scope",
                        "error_description": "The request requires higher privileges than provided by "
                        "the access token.",
                        "scope": "api",
                    },
                )
            request.context["user"] = grant.user
        elif ".git/" in path:
            challenge = {"WWW-Authenticate": 'Basic realm="GitLab"'}
            auth = request.headers.get("authorization", "")
            grant = None
            if auth.lower().startswith("basic "):
                try:
                    _, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                except ValueError:
                    password = ""
                grant = self._tokens.get(password)
            if grant is None:
                raise HttpError(401, "HTTP Basic: Access denied", headers=challenge)
            pushing = path.endswith("/git-receive-pack") or request.arg("service") == "git-receive-pack"
            if pushing and not grant.repo_write:
                raise HttpError(403, "You are not allowed to push code to this project.")
            request.context["user"] = grant.user

    def dispatch(self, request: Request) -> Response:
        try:
            return super().dispatch(request)
        except GitError as exc:  # a broken repository is the server's fault, as on GitLab
            raise HttpError(500, f"500 Internal Server Error: {exc}") from exc
