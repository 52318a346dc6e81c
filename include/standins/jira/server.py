"""The Jira stand-in server, assembled from one mixin per resource (meta, issues, comments, links,
search, web); seed.py and state.py hold the data they share, jql.py the query parser."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Literal, cast

from standins.http import HttpError, Request
from standins.jira.base import JiraBase
from standins.jira.comments import CommentRoutes
from standins.jira.issues import IssueRoutes
from standins.jira.links import LinkRoutes
from standins.jira.meta import MetaRoutes
from standins.jira.search import SearchRoutes
from standins.jira.seed import JiraSeed, SeedCustomField, SeedProject, default_seed
from standins.jira.state import DEFAULT_USER, ISSUE_TYPES, LINK_TYPES, Issue, Link, Mode, User, error_body
from standins.jira.web import WebPages


class JiraStandin(MetaRoutes, IssueRoutes, CommentRoutes, LinkRoutes, SearchRoutes, WebPages, JiraBase):
    """Jira Server/DC (`mode="server"`) or Jira Cloud (`mode="cloud"`), seeded from a JSON-able dict."""

    name = "jira"

    def __init__(self, mode: Mode = "server", seed: dict[str, Any] | None = None) -> None:
        super().__init__()
        if mode not in ("server", "cloud"):
            raise ValueError(f"mode must be 'server' or 'cloud', not {mode!r}")
        self.mode: Mode = mode
        self.api = "3" if mode == "cloud" else "2"
        config = JiraSeed.model_validate(default_seed(mode) if seed is None else seed)
        self.max_results = config.max_results
        self.statuses = dict(config.statuses)
        self.projects: dict[str, SeedProject] = {p.key: p for p in config.projects}
        self.users: dict[str, User] = {}
        for index, user in enumerate(config.users):
            self.users[user.name] = User(
                name=user.name,
                display_name=user.display_name or user.name,
                email=user.email or f"{user.name}@example.com",
                password=user.password,
                api_token=user.api_token,
                pats=list(user.pats),
                key=f"JIRAUSER{10000 + index}",
                account_id=hashlib.sha1(user.name.encode()).hexdigest()[:24],
            )
        self.custom_fields: dict[str, SeedCustomField] = {f.id: f for f in config.custom_fields}
        self.issues: dict[str, Issue] = {}
        self.links: list[Link] = []
        self._next_issue_id = 10000
        self._next_comment_id = 10000
        self._next_link_id = 10000
        self._clock = 0
        self._current_user: User | None = None
        for issue in config.issues:
            self.add_issue(**issue.model_dump(exclude_none=False))
        for link in config.links:
            self.add_link(link.type, link.source, link.target)
        self._register_routes()

    def credentials(self, user: str = DEFAULT_USER) -> tuple[str, str]:
        """Basic-auth credentials for `user`: name + password on Server, e-mail + API token on Cloud."""
        record = self.users[user]
        if self.mode == "cloud":
            return record.email, cast(str, record.api_token)
        return record.name, cast(str, record.password)

    def authenticate(self, request: Request) -> None:
        self._current_user = None
        header = request.headers.get("authorization", "")
        anonymous_ok = request.raw_path.split("?")[0].endswith("/serverInfo") or request.raw_path.startswith(
            "/browse/"
        )
        if not header:
            if anonymous_ok:
                return
            raise HttpError(
                401,
                error_body("You are not authenticated. Authentication required to perform this operation."),
            )
        scheme, _, value = header.partition(" ")
        user = None
        if scheme.lower() == "basic":
            try:
                login, _, secret = base64.b64decode(value.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                login = secret = ""
            for candidate in self.users.values():
                if self.mode == "cloud":
                    ok = login.lower() == candidate.email.lower() and secret == candidate.api_token
                else:
                    ok = login == candidate.name and secret == candidate.password and secret is not None
                if ok:
                    user = candidate
        elif scheme.lower() == "bearer" and self.mode == "server":
            user = next((u for u in self.users.values() if value.strip() in u.pats), None)
        if user is None:
            # Jira Server also says why in X-Seraph-LoginReason; clients log it.
            reason = {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"} if self.mode == "server" else {}
            raise HttpError(401, error_body("Client must be authenticated to access this resource."), reason)
        self._current_user = user  # dispatch runs under self.lock, so one request at a time sees this
        request.context["user"] = user.name

    def _register_routes(self) -> None:
        prefixes = ["/rest/api/2", "/rest/api/latest"] if self.mode == "server" else ["/rest/api/3"]
        info_prefixes = (
            ["/rest/api/2", "/rest/api/latest", "/rest/api/3"] if self.mode == "cloud" else prefixes
        )
        for prefix in info_prefixes:
            self.route("GET", f"{prefix}/serverInfo", self._server_info)
        for p in prefixes:
            self.route("GET", f"{p}/myself", lambda r: self._user_json(self._me().name, detailed=True))
            self.route("GET", f"{p}/field", self._fields)
            self.route("GET", f"{p}/issuetype", lambda r: [self._issuetype_json(n) for n in ISSUE_TYPES])
            self.route("GET", f"{p}/project/{{key}}", self._get_project)
            self.route(
                "GET",
                f"{p}/issueLinkType",
                lambda r: {"issueLinkTypes": [self._link_type_json(t) for t in LINK_TYPES]},
            )
            self.route("POST", f"{p}/issueLink", self._create_link)
            self.route("POST", f"{p}/issue", self._create_issue)
            self.route("GET", f"{p}/issue/{{key}}", self._get_issue)
            self.route("PUT", f"{p}/issue/{{key}}", self._update_issue)
            self.route("GET", f"{p}/issue/{{key}}/comment", self._list_comments)
            self.route("POST", f"{p}/issue/{{key}}/comment", self._add_comment)
            self.route("GET", f"{p}/issue/{{key}}/comment/{{cid}}", self._get_comment)
            self.route("PUT", f"{p}/issue/{{key}}/comment/{{cid}}", self._update_comment)
            self.route("DELETE", f"{p}/issue/{{key}}/comment/{{cid}}", self._delete_comment)
            self.route("GET", f"{p}/issue/{{key}}/transitions", self._transitions)
            self.route("POST", f"{p}/issue/{{key}}/transitions", self._transition)
            if self.mode == "server":
                self.route("GET", f"{p}/search", self._search_server)
                self.route("POST", f"{p}/search", self._search_server)
            else:
                self.route("GET", f"{p}/search/jql", self._search_cloud)
                self.route("POST", f"{p}/search/jql", self._search_cloud)
                self.route("GET", f"{p}/search", self._search_removed)
                self.route("POST", f"{p}/search", self._search_removed)
        self.route("GET", "/browse/{key}", self._browse)


def start_jira(
    mode: Literal["server", "cloud"], seed: dict[str, Any] | None = None, *, port: int = 0
) -> JiraStandin:
    """Start a Jira stand-in on 127.0.0.1 (a free port unless `port`); `seed=None` loads `default_seed`."""
    server = JiraStandin(mode, seed)
    server.start(port)
    return server
