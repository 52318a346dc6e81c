"""A GitLab stand-in (a test double, not GitLab): the REST v4 subset Nightshift uses, plus Git smart HTTP.

State lives in memory, seeded from a JSON-able dict (see `GitLabSeed`); each project has a real bare git
repository, so branches pushed with `git push` appear in the branches API and MRs carry real shas.
JSON shapes follow GitLab's (checked against /work/shared/specs/gitlab-rest-v4.subset.yaml in the tests).
Test helpers (`approve`, `merge`, `set_pipeline_status`, `add_issue`) change state the way people and CI do.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import itertools
import math
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from standins.git_http import PROJECT_PATH_RE, BareRepositories, BranchInfo, GitError
from standins.http import HttpError, Request, Response, StandinServer

Scope = Literal["api", "read_api", "read_repository", "write_repository"]
LinkType = Literal["relates_to", "blocks", "is_blocked_by"]
PIPELINE_STATUSES = frozenset(
    {
        "created",
        "waiting_for_resource",
        "preparing",
        "pending",
        "running",
        "success",
        "failed",
        "canceled",
        "skipped",
        "manual",
        "scheduled",
    }
)
_INVERSE_LINK = {"relates_to": "relates_to", "blocks": "is_blocked_by", "is_blocked_by": "blocks"}
#: GitLab's draft detection: a `[Draft]`, `(Draft)` or `Draft:` prefix, any case.
_DRAFT_RE = re.compile(r"\A\s*(\[draft\]|\(draft\)|draft:)\s*", re.IGNORECASE)
_DEFAULT_LABEL_COLOR = "#6699cc"


# --- the seed: the stand-in's boundary, validated ---------------------------------------------------------
class SeedUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str = ""


class SeedToken(BaseModel):
    """A personal access token; `read_api` without `api` makes a read-only token (403 on writes)."""

    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=8)
    user: str
    scopes: list[Scope] = Field(default_factory=lambda: list[Scope](["api"]))


class SeedLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    color: str = _DEFAULT_LABEL_COLOR
    description: str | None = None


class SeedIssue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    description: str = ""
    labels: list[str] = Field(default_factory=list)
    state: Literal["opened", "closed"] = "opened"
    author: str | None = None  # username; the first user by default


class SeedIssueLink(BaseModel):
    """`source_iid` links to `target_iid` (in `target_project`, default the same project)."""

    model_config = ConfigDict(extra="forbid")
    source_iid: int
    target_iid: int
    target_project: str | None = None
    link_type: LinkType = "relates_to"


class SeedRepository(BaseModel):
    """The initial commit on the default branch: a directory to copy and/or files to write."""

    model_config = ConfigDict(extra="forbid")
    seed_dir: Path | None = None
    files: dict[str, str] = Field(default_factory=dict)


class SeedProject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path_with_namespace: str
    description: str = ""
    default_branch: str = "main"
    repository: SeedRepository = Field(
        default_factory=lambda: SeedRepository(files={"README.md": "# Stand-in project\n"})
    )
    labels: list[SeedLabel] = Field(default_factory=list)
    issues: list[SeedIssue] = Field(default_factory=list)
    issue_links: list[SeedIssueLink] = Field(default_factory=list)

    @field_validator("path_with_namespace")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        if not PROJECT_PATH_RE.match(value) or ".." in value:
            raise ValueError(f"{value!r} is not a project path such as group/app")
        return value


class GitLabSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: list[SeedUser] = Field(default_factory=list)
    tokens: list[SeedToken] = Field(default_factory=list)
    projects: list[SeedProject] = Field(default_factory=list)


def default_seed() -> dict[str, Any]:
    """One project `group/app` with a small repository, a bot with an `api` token and a read-only reviewer."""
    return {
        "users": [
            {"username": "nightshift-bot", "name": "Nightshift Bot"},
            {"username": "reviewer", "name": "Rita Reviewer"},
        ],
        "tokens": [
            {"token": f"glpat-standin-{secrets.token_hex(10)}", "user": "nightshift-bot", "scopes": ["api"]},
            {
                "token": f"glpat-readonly-{secrets.token_hex(10)}",
                "user": "reviewer",
                "scopes": ["read_api", "read_repository"],
            },
        ],
        "projects": [
            {
                "path_with_namespace": "group/app",
                "description": "Stand-in application repository",
                "repository": {
                    "files": {
                        "README.md": "# app\n\nA stand-in repository for Nightshift.\n",
                        "src/app.py": "def greet(name: str) -> str:\n    return f'Hello, {name}!'\n",
                        "tests/test_app.py": "from src.app import greet\n\n\ndef test_greet():\n"
                        "    assert greet('x') == 'Hello, x!'\n",
                    }
                },
                "labels": [{"name": "ready-for-agent", "color": "#2da160"}],
            }
        ],
    }


# --- in-memory state -----------------------------------------------------------------------------------
def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class _User:
    id: int
    username: str
    name: str


@dataclass
class _Grant:
    user: _User
    scopes: list[str]

    @property
    def api_write(self) -> bool:
        return "api" in self.scopes

    @property
    def repo_write(self) -> bool:
        return "api" in self.scopes or "write_repository" in self.scopes


@dataclass
class _Label:
    id: int
    name: str
    color: str
    description: str | None


@dataclass
class _Note:
    id: int
    body: str
    author: _User
    created_at: str
    updated_at: str
    noteable_type: str
    noteable_id: int
    noteable_iid: int
    project_id: int


@dataclass
class _Issue:
    id: int
    iid: int
    project_id: int
    title: str
    description: str
    labels: list[str]
    author: _User
    state: str = "opened"
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    closed_at: str | None = None
    closed_by: _User | None = None
    notes: list[_Note] = field(default_factory=list)


@dataclass
class _MergeRequest:
    id: int
    iid: int
    project_id: int
    title: str
    description: str
    source_branch: str
    target_branch: str
    labels: list[str]
    author: _User
    state: str = "opened"
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    merged_at: str | None = None
    merged_by: _User | None = None
    merge_commit_sha: str | None = None
    closed_at: str | None = None
    closed_by: _User | None = None
    frozen_sha: str | None = None  # the head when merged or closed; open MRs follow the branch
    notes: list[_Note] = field(default_factory=list)
    approvals: list[tuple[_User, str]] = field(default_factory=list)

    @property
    def draft(self) -> bool:
        return _DRAFT_RE.match(self.title) is not None


@dataclass
class _Pipeline:
    id: int
    iid: int
    project_id: int
    sha: str
    ref: str
    status: str
    user: _User
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None
    source: str = "push"  # "external": created by a commit status on a sha with no pipeline


@dataclass
class _CommitStatus:
    """An external commit status (a "generic commit status" job): what `POST statuses/:sha` records."""

    id: int
    project_id: int
    sha: str
    ref: str
    name: str
    status: str
    author: _User
    pipeline_id: int
    target_url: str | None = None
    description: str | None = None
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None


@dataclass
class _IssueLink:
    id: int
    source: _Issue
    target: _Issue
    link_type: str
    created_at: str = field(default_factory=_now)


@dataclass
class _Project:
    id: int
    path: str
    description: str
    default_branch: str
    namespace_id: int
    created_at: str = field(default_factory=_now)
    labels: dict[str, _Label] = field(default_factory=dict)
    merge_requests: dict[int, _MergeRequest] = field(default_factory=dict)
    issues: dict[int, _Issue] = field(default_factory=dict)
    pipelines: list[_Pipeline] = field(default_factory=list)
    commit_statuses: list[_CommitStatus] = field(default_factory=list)
    #: Scripted pipeline statuses still to come, by pipeline id (see GitLabStandin.script_pipeline).
    pipeline_scripts: dict[int, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    @property
    def namespace(self) -> str:
        return self.path.rsplit("/", 1)[0]


def _as_list(value: Any) -> list[str]:
    """GitLab accepts label lists as JSON arrays or comma-separated strings."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _merge_labels(current: list[str], add: list[str], remove: list[str]) -> list[str]:
    merged = [name for name in current if name not in remove]
    merged += [name for name in add if name not in merged and name not in remove]
    return merged


class GitLabStandin(StandinServer):
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
        self._users: dict[str, _User] = {}
        self._tokens: dict[str, _Grant] = {}
        self._projects: dict[int, _Project] = {}
        self._links: list[_IssueLink] = []
        self.quick_actions: list[QuickAction] = []  # every executed `/command`, in order
        self._apply_seed(model)
        self._register_routes()

    # --- public helpers for tests and the CLI ----------------------------------------------------------
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
                issue.state, issue.closed_at, issue.closed_by = "closed", _now(), user
            return self._issue_json(issue)

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
            now = _now()
            if existing:
                pipeline = existing[-1]
            else:
                if ref is None:
                    heads = self.repos.heads(proj.path)
                    at_sha = [name for name, head in heads.items() if head == sha]
                    others = [name for name in at_sha if name != proj.default_branch]
                    ref = (others or at_sha or [proj.default_branch])[0]
                pipeline = _Pipeline(
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

    def approve(self, project: str, mr_iid: int, username: str) -> None:
        """A reviewer approves the MR (Nightshift itself never approves)."""
        with self.lock:
            mr = self._mr(self._project_by_path(project), mr_iid)
            user = self._users[username]
            if all(u.id != user.id for u, _ in mr.approvals):
                mr.approvals.append((user, _now()))

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
            mr.state, mr.merged_at, mr.merged_by = "merged", _now(), user
            mr.frozen_sha = mr.merge_commit_sha = sha
            mr.updated_at = mr.merged_at
            return self._mr_json(proj, mr)

    def merge_requests(self, project: str) -> list[dict[str, Any]]:
        """Every MR of the project, for assertions."""
        with self.lock:
            proj = self._project_by_path(project)
            return [self._mr_json(proj, mr) for mr in proj.merge_requests.values()]

    def issues(self, project: str) -> list[dict[str, Any]]:
        with self.lock:
            return [self._issue_json(i) for i in self._project_by_path(project).issues.values()]

    def notes(self, project: str, *, mr_iid: int | None = None, issue_iid: int | None = None) -> list[str]:
        """The bodies of an MR's or an issue's notes, oldest first."""
        with self.lock:
            proj = self._project_by_path(project)
            owner = self._mr(proj, mr_iid) if mr_iid is not None else self._issue(proj, issue_iid or 0)
            return [note.body for note in owner.notes]

    def stop(self) -> None:
        super().stop()
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    # --- seeding -------------------------------------------------------------------------------------
    def _apply_seed(self, seed: GitLabSeed) -> None:
        users = seed.users or [SeedUser(username="nightshift-bot", name="Nightshift Bot")]
        for user in users:
            self._users[user.username] = _User(next(self._ids), user.username, user.name or user.username)
        tokens = seed.tokens or [
            SeedToken(token=f"glpat-standin-{secrets.token_hex(10)}", user=users[0].username)
        ]
        for token in tokens:
            if token.user not in self._users:
                raise ValueError(f"token for unknown user {token.user!r}")
            self._tokens[token.token] = _Grant(self._users[token.user], list(token.scopes))
        namespaces: dict[str, int] = {}
        for sp in seed.projects:
            ns = sp.path_with_namespace.rsplit("/", 1)[0]
            proj = _Project(
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
                proj.labels[label.name] = _Label(next(self._ids), label.name, label.color, label.description)
            for si in sp.issues:
                author = self._users[si.author] if si.author else next(iter(self._users.values()))
                issue = self._new_issue(proj, si.title, si.description, si.labels, author)
                if si.state == "closed":
                    issue.state, issue.closed_at = "closed", _now()
        for sp in seed.projects:
            proj = self._project_by_path(sp.path_with_namespace)
            for link in sp.issue_links:
                target_proj = self._project_by_path(link.target_project or proj.path)
                self._links.append(
                    _IssueLink(
                        next(self._ids),
                        self._issue(proj, link.source_iid),
                        self._issue(target_proj, link.target_iid),
                        link.link_type,
                    )
                )

    # --- routing and auth ---------------------------------------------------------------------------
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

    # --- lookups ---------------------------------------------------------------------------------------
    def _project_by_path(self, path: str) -> _Project:
        for proj in self._projects.values():
            if proj.path == path:
                return proj
        raise HttpError(404, "404 Project Not Found")

    def _project(self, request: Request) -> _Project:
        ident = request.params["id"]
        if ident.isdigit():
            proj = self._projects.get(int(ident))
            if proj is None:
                raise HttpError(404, "404 Project Not Found")
            return proj
        return self._project_by_path(ident)

    @staticmethod
    def _mr(proj: _Project, iid: int) -> _MergeRequest:
        mr = proj.merge_requests.get(iid)
        if mr is None:
            raise HttpError(404, "404 Merge Request Not Found")
        return mr

    @staticmethod
    def _issue(proj: _Project, iid: int) -> _Issue:
        issue = proj.issues.get(iid)
        if issue is None:
            raise HttpError(404, "404 Issue Not Found")
        return issue

    def _noteable(self, request: Request) -> tuple[_Project, _MergeRequest | _Issue]:
        proj = self._project(request)
        iid = _int(request.params["iid"], "iid")
        owner = self._mr(proj, iid) if "/merge_requests/" in request.raw_path else self._issue(proj, iid)
        return proj, owner

    @staticmethod
    def _user(request: Request) -> _User:
        return request.context["user"]

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
        body = request.json()
        if isinstance(body, dict):
            params.update(body)
        return params

    # --- pagination --------------------------------------------------------------------------------------
    def _paginate(self, request: Request, items: list[Any]) -> Response:
        """GitLab's offset pagination: X-Total/X-Next-Page headers and a Link header python-gitlab follows."""
        per_page = min(max(_int(request.arg("per_page", "20") or "20", "per_page"), 1), 100)
        page = max(_int(request.arg("page", "1") or "1", "page"), 1)
        total = len(items)
        total_pages = max(math.ceil(total / per_page), 1)
        chunk = items[(page - 1) * per_page : page * per_page]
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

    # --- JSON renderers ----------------------------------------------------------------------------------
    def _user_json(self, user: _User | None) -> dict[str, Any] | None:
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

    def _project_json(self, proj: _Project, user: _User | None = None) -> dict[str, Any]:
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
            "last_activity_at": _now(),
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
            "updated_at": _now(),
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

    def _references(self, proj: _Project, iid: int, sigil: str) -> dict[str, str]:
        return {"short": f"{sigil}{iid}", "relative": f"{sigil}{iid}", "full": f"{proj.path}{sigil}{iid}"}

    def _time_stats(self) -> dict[str, Any]:
        return {
            "time_estimate": 0,
            "total_time_spent": 0,
            "human_time_estimate": None,
            "human_total_time_spent": None,
        }

    def _mr_sha(self, proj: _Project, mr: _MergeRequest, heads: dict[str, str] | None) -> str | None:
        if mr.frozen_sha is not None or mr.state != "opened":
            return mr.frozen_sha
        heads = self.repos.heads(proj.path) if heads is None else heads
        return heads.get(mr.source_branch)

    def _mr_json(
        self, proj: _Project, mr: _MergeRequest, heads: dict[str, str] | None = None, *, full: bool = True
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
            "id": mr.id,
            "iid": mr.iid,
            "project_id": proj.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": mr.created_at,
            "updated_at": mr.updated_at,
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

    def _issue_json(self, issue: _Issue) -> dict[str, Any]:
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
            "blocking_issues_count": sum(
                1
                for link in self._links
                if (link.target is issue and link.link_type == "blocks")
                or (link.source is issue and link.link_type == "is_blocked_by")
            ),
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

    def _note_json(self, note: _Note) -> dict[str, Any]:
        return {
            "id": note.id,
            "type": None,
            "body": note.body,
            "author": self._user_json(note.author),
            "created_at": note.created_at,
            "updated_at": note.updated_at,
            "system": False,
            "noteable_id": note.noteable_id,
            "noteable_type": note.noteable_type,
            "project_id": note.project_id,
            "resolvable": False,
            "confidential": False,
            "internal": False,
            "imported": False,
            "imported_from": "none",
            "noteable_iid": note.noteable_iid,
            "commands_changes": {},
        }

    def _label_json(self, proj: _Project, label: _Label) -> dict[str, Any]:
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

    def _branch_json(self, proj: _Project, branch: BranchInfo, merged: set[str]) -> dict[str, Any]:
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

    def _pipeline_json(self, p: _Pipeline, *, full: bool = False) -> dict[str, Any]:
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
                duration = int((_parse(p.finished_at) - _parse(p.started_at)).total_seconds())
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

    def _related_json(self, link: _IssueLink, other: _Issue, link_type: str) -> dict[str, Any]:
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

    # --- API handlers ----------------------------------------------------------------------------------
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

    @staticmethod
    def _label_filter(labels: list[str], wanted: str | None) -> bool:
        if not wanted:
            return True
        if wanted == "None":
            return not labels
        if wanted == "Any":
            return bool(labels)
        return all(name in labels for name in _as_list(wanted))

    @staticmethod
    def _sorted(items: list[Any], request: Request, default_order: str = "created_at") -> list[Any]:
        order_by = request.arg("order_by", default_order) or default_order
        key = {"updated_at": lambda x: (x.updated_at, x.id), "id": lambda x: x.id}.get(
            order_by, lambda x: (x.created_at, x.id)
        )
        return sorted(items, key=key, reverse=(request.arg("sort", "desc") != "asc"))

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
        labels = _as_list(params.get("labels"))
        self._ensure_project_labels(proj, labels)
        mr = _MergeRequest(
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
        return self._mr_json(proj, self._mr(proj, _int(request.params["iid"], "iid")))

    def _update_mr(self, request: Request) -> dict[str, Any]:
        proj = self._project(request)
        mr = self._mr(proj, _int(request.params["iid"], "iid"))
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
            mr.state, mr.closed_at, mr.closed_by = "closed", _now(), user
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
        mr.updated_at = _now()
        return self._mr_json(proj, mr)

    def _updated_labels(self, proj: _Project, current: list[str], params: dict[str, Any]) -> list[str]:
        labels = _as_list(params["labels"]) if "labels" in params else list(current)
        labels = _merge_labels(
            labels, _as_list(params.get("add_labels")), _as_list(params.get("remove_labels"))
        )
        self._ensure_project_labels(proj, labels)
        return labels

    def _ensure_project_labels(self, proj: _Project, names: list[str]) -> None:
        """GitLab creates a project label on first use in an issue or MR."""
        for name in names:
            if name not in proj.labels:
                proj.labels[name] = _Label(next(self._ids), name, _DEFAULT_LABEL_COLOR, None)

    def _list_notes(self, request: Request) -> Response:
        _, owner = self._noteable(request)
        notes = self._sorted(owner.notes, request)
        return self._paginate(request, [self._note_json(n) for n in notes])

    def _create_note(self, request: Request) -> Response:
        proj, owner = self._noteable(request)
        body = self._params(request).get("body")
        if not body:
            raise HttpError(400, {"error": "body is missing"})
        now = _now()
        kind = "MergeRequest" if isinstance(owner, _MergeRequest) else "Issue"
        note = _Note(
            next(self._ids), str(body), self._user(request), now, now, kind, owner.id, owner.iid, proj.id
        )
        owner.notes.append(note)
        note.body = run_quick_actions(self, proj, owner, note.author, note.body, "note")
        owner.updated_at = now
        return Response(201, self._note_json(note))

    def _find_note(self, request: Request) -> _Note:
        _, owner = self._noteable(request)
        note_id = _int(request.params["note_id"], "note_id")
        for note in owner.notes:
            if note.id == note_id:
                return note
        raise HttpError(404, "404 Note Not Found")

    def _get_note(self, request: Request) -> dict[str, Any]:
        return self._note_json(self._find_note(request))

    def _update_note(self, request: Request) -> dict[str, Any]:
        note = self._find_note(request)
        if note.author.id != self._user(request).id:
            raise HttpError(403, "403 Forbidden")
        body = self._params(request).get("body")
        if not body:
            raise HttpError(400, {"error": "body is missing"})
        note.body, note.updated_at = str(body), _now()
        proj, owner = self._noteable(request)
        note.body = run_quick_actions(self, proj, owner, note.author, note.body, "note")
        return self._note_json(note)

    def _delete_note(self, request: Request) -> Response:
        note = self._find_note(request)
        if note.author.id != self._user(request).id:
            raise HttpError(403, "403 Forbidden")
        _, owner = self._noteable(request)
        owner.notes.remove(note)
        return Response(204, None)

    def _get_approvals(self, request: Request) -> dict[str, Any]:
        proj = self._project(request)
        mr = self._mr(proj, _int(request.params["iid"], "iid"))
        user = self._user(request)
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": proj.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": mr.created_at,
            "updated_at": mr.updated_at,
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

    def _list_mr_pipelines(self, request: Request) -> Response:
        proj = self._project(request)
        mr = self._mr(proj, _int(request.params["iid"], "iid"))
        pipelines = [p for p in proj.pipelines if p.ref == mr.source_branch]
        return self._paginate(
            request, [self._pipeline_json(p) for p in sorted(pipelines, key=lambda p: -p.id)]
        )

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
        label = _Label(next(self._ids), name, color, params.get("description"))
        proj.labels[name] = label
        return Response(201, self._label_json(proj, label))

    def _new_issue(
        self, proj: _Project, title: str, description: str, labels: list[str], author: _User
    ) -> _Issue:
        self._ensure_project_labels(proj, labels)
        issue = _Issue(
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
        return self._paginate(request, [self._issue_json(i) for i in self._sorted(issues, request)])

    def _create_issue(self, request: Request) -> Response:
        proj = self._project(request)
        params = self._params(request)
        if not params.get("title"):
            raise HttpError(400, {"error": "title is missing"})
        issue = self._new_issue(
            proj,
            str(params["title"]),
            str(params.get("description") or ""),
            _as_list(params.get("labels")),
            self._user(request),
        )
        issue.description = run_quick_actions(
            self, proj, issue, issue.author, issue.description, "description"
        )
        return Response(201, self._issue_json(issue))

    def _get_issue(self, request: Request) -> dict[str, Any]:
        proj = self._project(request)
        return self._issue_json(self._issue(proj, _int(request.params["iid"], "iid")))

    def _update_issue(self, request: Request) -> dict[str, Any]:
        proj = self._project(request)
        issue = self._issue(proj, _int(request.params["iid"], "iid"))
        params = self._params(request)
        if "title" in params:
            issue.title = str(params["title"])
        if "description" in params:
            issue.description = str(params["description"] or "")
        issue.labels = self._updated_labels(proj, issue.labels, params)
        event = params.get("state_event")
        if event == "close" and issue.state == "opened":
            issue.state, issue.closed_at, issue.closed_by = "closed", _now(), self._user(request)
        elif event == "reopen" and issue.state == "closed":
            issue.state, issue.closed_at, issue.closed_by = "opened", None, None
        elif event not in (None, "", "close", "reopen"):
            raise HttpError(400, {"error": "state_event does not have a valid value"})
        if "description" in params:
            issue.description = run_quick_actions(
                self, proj, issue, self._user(request), issue.description, "description"
            )
        issue.updated_at = _now()
        return self._issue_json(issue)

    def _list_links(self, request: Request) -> list[dict[str, Any]]:
        proj = self._project(request)
        issue = self._issue(proj, _int(request.params["iid"], "iid"))
        related = []
        for link in self._links:
            if link.source is issue:
                related.append(self._related_json(link, link.target, link.link_type))
            elif link.target is issue:
                related.append(self._related_json(link, link.source, _INVERSE_LINK[link.link_type]))
        return related

    def _create_link(self, request: Request) -> Response:
        proj = self._project(request)
        source = self._issue(proj, _int(request.params["iid"], "iid"))
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
        target = self._issue(target_proj, _int(str(params["target_issue_iid"]), "target_issue_iid"))
        link_type = str(params.get("link_type") or "relates_to")
        if link_type not in _INVERSE_LINK:
            raise HttpError(400, {"error": "link_type does not have a valid value"})
        if target is source:
            raise HttpError(400, "Cannot link an issue to itself")
        for link in self._links:
            if {link.source.id, link.target.id} == {source.id, target.id}:
                raise HttpError(409, "Issue(s) already assigned")
        link = _IssueLink(next(self._ids), source, target, link_type)
        self._links.append(link)
        return Response(
            201,
            {
                "source_issue": self._issue_json(source),
                "target_issue": self._issue_json(target),
                "link_type": link_type,
            },
        )

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
        pid = _int(request.params["pipeline_id"], "pipeline_id")
        for p in proj.pipelines:
            if p.id == pid:
                return self._pipeline_json(p, full=True)
        raise HttpError(404, "404 Not found")

    # --- git smart HTTP --------------------------------------------------------------------------------
    def _git(self, request: Request) -> Response:
        proj = self._project_by_path(request.params["repo"])
        rest = urlsplit(request.raw_path).path.split(".git/", 1)[1]
        return self.repos.serve(request, proj.path, rest, self._user(request).username)

    # --- HTML pages (for people following web_url links) ----------------------------------------------
    def _page(self, title: str, body: str) -> Response:
        doc = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{white-space:pre-wrap;"
            "background:#f6f6f6;padding:1em}.note{border-top:1px solid #ccc}</style></head><body>"
            "<p><small>GitLab stand-in (a test double, not GitLab)</small></p>"
            f"{body}</body></html>"
        )
        return Response(
            body=doc,
            content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )

    def _web_project(self, request: Request) -> _Project:
        return self._project_by_path(request.params["ns"])

    def _mr_page(self, request: Request) -> Response:
        proj = self._web_project(request)
        mr = self._mr(proj, _int(request.params["iid"], "iid"))
        data = self._mr_json(proj, mr)
        e = html.escape
        notes = "".join(
            f"<div class='note'><p><b>{e(n.author.name)}</b> {e(n.created_at)}</p>"
            f"<pre>{e(n.body)}</pre></div>"
            for n in mr.notes
        )
        approvals = ", ".join(e(u.name) for u, _ in mr.approvals) or "none"
        pipeline = data["head_pipeline"]["status"] if data["head_pipeline"] else "none"
        body = (
            f"<h1>{e(mr.title)} <small>!{mr.iid}</small></h1>"
            f"<p>{e(mr.state)}{' (draft)' if mr.draft else ''}: <code>{e(mr.source_branch)}</code> into "
            f"<code>{e(mr.target_branch)}</code> at <code>{e(str(data['sha']))}</code></p>"
            f"<p>Labels: {e(', '.join(mr.labels)) or 'none'}. Pipeline: {e(pipeline)}. "
            f"Approved by: {approvals}.</p><h2>Description</h2><pre>{e(mr.description)}</pre>"
            f"<h2>Notes</h2>{notes or '<p>none</p>'}"
        )
        return self._page(f"{mr.title} (!{mr.iid}) · {proj.path}", body)

    def _issue_page(self, request: Request) -> Response:
        proj = self._web_project(request)
        issue = self._issue(proj, _int(request.params["iid"], "iid"))
        e = html.escape
        notes = "".join(
            f"<div class='note'><p><b>{e(n.author.name)}</b> {e(n.created_at)}</p>"
            f"<pre>{e(n.body)}</pre></div>"
            for n in issue.notes
        )
        body = (
            f"<h1>{e(issue.title)} <small>#{issue.iid}</small></h1><p>{e(issue.state)}; labels: "
            f"{e(', '.join(issue.labels)) or 'none'}</p><h2>Description</h2><pre>{e(issue.description)}</pre>"
            f"<h2>Comments</h2>{notes or '<p>none</p>'}"
        )
        return self._page(f"{issue.title} (#{issue.iid}) · {proj.path}", body)

    def _pipeline_page(self, request: Request) -> Response:
        proj = self._web_project(request)
        pid = _int(request.params["pipeline_id"], "pipeline_id")
        for p in proj.pipelines:
            if p.id == pid:
                e = html.escape
                return self._page(
                    f"Pipeline #{p.id}",
                    f"<h1>Pipeline #{p.id}: {e(p.status)}</h1>"
                    f"<p><code>{e(p.ref)}</code> at <code>{e(p.sha)}</code></p>",
                )
        raise HttpError(404, "404 Not found")

    def _project_page(self, request: Request) -> Response:
        proj = self._web_project(request)
        e = html.escape
        mrs = "".join(
            f"<li><a href='{e(self.base_url)}/{e(proj.path)}/-/merge_requests/{m.iid}'>!{m.iid} "
            f"{e(m.title)}</a> ({e(m.state)})</li>"
            for m in proj.merge_requests.values()
        )
        issues = "".join(
            f"<li><a href='{e(self.base_url)}/{e(proj.path)}/-/issues/{i.iid}'>#{i.iid} "
            f"{e(i.title)}</a> ({e(i.state)})</li>"
            for i in proj.issues.values()
        )
        body = (
            f"<h1>{e(proj.path)}</h1><p>{e(proj.description)}</p><h2>Merge requests</h2><ul>{mrs}</ul>"
            f"<h2>Issues</h2><ul>{issues}</ul>"
        )
        return self._page(proj.path, body)

    # --- CI: commit statuses and scripted pipelines (the gates stage's endpoints) -------------------------
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
            pipeline = _Pipeline(
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
    def _move_pipeline(pipeline: _Pipeline, status: str) -> None:
        now = _now()
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
        now = _now()
        pipeline = next(
            (p for p in reversed(proj.pipelines) if p.sha == sha and p.ref == ref),
            None,
        )
        if pipeline is None:
            pipeline = _Pipeline(
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
        status = current or _CommitStatus(
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
            latest: dict[str, _CommitStatus] = {}
            for s in found:
                latest[s.name] = s
            found = sorted(latest.values(), key=lambda s: s.id)
        return self._paginate(request, [self._commit_status_json(s) for s in found])

    def _commit_status_json(self, s: _CommitStatus) -> dict[str, Any]:
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


def _int(value: str, name: str) -> int:
    if not value.isdigit():
        raise HttpError(400, {"error": f"{name} is invalid"})
    return int(value)


def _parse(timestamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


# --- quick actions: what GitLab does with `/command` lines in descriptions and notes -----------------------
#: The quick actions GitLab knows for issues and merge requests (docs: user/project/quick_actions.md).
QUICK_ACTION_NAMES = frozenset(
    """add_child add_contacts add_email approve assign assign_reviewer award blocked_by blocks cc
    checkin_reminder child_epic clear_health_status clear_weight clone close confidential copy_metadata
    create_merge_request done draft due duplicate epic estimate estimate_time health_status iteration
    label labels lock merge milestone move page parent_epic promote promote_to_incident publish q react
    ready rebase reassign reassign_reviewer relabel relate remove_child remove_child_epic remove_contacts
    remove_due_date remove_email remove_epic remove_estimate remove_estimate_time remove_iteration
    remove_label remove_milestone remove_parent remove_parent_epic remove_reviewer remove_time_spent
    remove_zoom reopen request_review reviewer set_parent severity shrug spend spend_time status
    submit_review subscribe tableflip target_branch timeline title todo type unapprove unassign
    unassign_reviewer unlabel unlink unlock unsubscribe weight wip zoom""".split()
)
# GitLab's extractor (lib/gitlab/quick_actions/extractor.rb): `^/<name>( <arg>)?` on a line of its own,
# case-insensitive, outside fenced code. GitLab also skips HTML blocks, `>>>` quotes and inline code
# spread over lines; the stand-in does not, so it executes at least what GitLab would.
_QUICK_ACTION_RE = re.compile(
    r"(?P<code>^```.+?\n```$)"
    r"|^/(?P<cmd>" + "|".join(sorted(QUICK_ACTION_NAMES, key=len, reverse=True)) + r")"
    r"(?:[ ](?P<arg>[^\n]*))?(?:[ \t]*\n|$)",
    re.MULTILINE | re.DOTALL | re.IGNORECASE,
)
_LABEL_ARG_RE = re.compile(r'~"([^"]+)"|~(\S+)|(\S+)')


@dataclass
class QuickAction:
    """One executed quick action, as the stand-in journals it (`GitLabStandin.quick_actions`)."""

    where: str  # e.g. "MergeRequest group/app!1 description", "Issue group/app#2 note"
    name: str
    arg: str
    user: str
    applied: bool  # False: recognised (GitLab would run it) but not modelled by the stand-in


def extract_quick_actions(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(text without the command lines, [(name, arg), ...]) as GitLab's extractor finds them."""
    commands: list[tuple[str, str]] = []

    def take(match: re.Match[str]) -> str:
        if match.group("cmd") is None:
            return match.group(0)
        commands.append((match.group("cmd").lower(), (match.group("arg") or "").strip()))
        return ""

    remaining = _QUICK_ACTION_RE.sub(take, text.replace("\r", ""))
    return remaining.rstrip(), commands


def _label_names(arg: str) -> list[str]:
    return [a or b or c for a, b, c in _LABEL_ARG_RE.findall(arg)]


def _apply_quick_action(
    standin: GitLabStandin, proj: _Project, target: _MergeRequest | _Issue, user: _User, name: str, arg: str
) -> bool:
    """Do what GitLab does for the modelled commands; False for the others (and for refused ones)."""
    if name in ("label", "labels"):
        target.labels = _merge_labels(target.labels, _label_names(arg), [])
    elif name == "relabel":
        target.labels = _merge_labels([], _label_names(arg), [])
    elif name in ("unlabel", "remove_label"):
        target.labels = _merge_labels(target.labels, [], _label_names(arg)) if arg else []
    elif name == "close" and target.state == "opened":
        if isinstance(target, _MergeRequest):
            target.frozen_sha = standin._mr_sha(proj, target, None)
        target.state, target.closed_at, target.closed_by = "closed", _now(), user
    elif name == "reopen" and target.state == "closed":
        target.state, target.closed_at, target.closed_by = "opened", None, None
        if isinstance(target, _MergeRequest):
            target.frozen_sha = None
    elif name == "title" and arg:
        target.title = arg
    elif not isinstance(target, _MergeRequest):
        return False
    elif name == "approve":
        if all(u.id != user.id for u, _ in target.approvals):
            target.approvals.append((user, _now()))
    elif name == "unapprove":
        target.approvals = [(u, at) for u, at in target.approvals if u.id != user.id]
    elif name == "ready":
        target.title = _DRAFT_RE.sub("", target.title, count=1)
    elif name in ("draft", "wip"):
        if not target.draft:
            target.title = f"Draft: {target.title}"
    elif name == "target_branch" and arg in standin.repos.heads(proj.path):
        target.target_branch = arg
    elif name == "merge" and target.state == "opened" and not target.draft:
        try:
            standin.merge(proj.path, target.iid, user.username)
        except GitError:
            return False
    else:
        return False
    standin._ensure_project_labels(proj, target.labels)
    return True


def run_quick_actions(
    standin: GitLabStandin, proj: _Project, target: _MergeRequest | _Issue, user: _User, text: str, field: str
) -> str:
    """Execute the quick actions in `text` on `target` as `user`, journal them, return the rest of it."""
    remaining, commands = extract_quick_actions(text)
    sign = "!" if isinstance(target, _MergeRequest) else "#"
    where = f"{type(target).__name__.lstrip('_')} {proj.path}{sign}{target.iid} {field}"
    for name, arg in commands:
        applied = _apply_quick_action(standin, proj, target, user, name, arg)
        standin.quick_actions.append(QuickAction(where, name, arg, user.username, applied))
    return remaining
