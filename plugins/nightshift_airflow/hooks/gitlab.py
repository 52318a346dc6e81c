"""The GitLab hook: an Airflow Connection turned into a configured python-gitlab client and the core's
MR forge and issue tracker. Nothing else lives here; the domain logic is in `nightshift.forge`/`trackers`.

Connection: host = base URL (https://gitlab.example.com), password = private token. Optional extras:
`timeout` (seconds per attempt), `retries` (re-sends after 429/5xx), `max_retry_after` (cap in seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gitlab
from airflow.sdk import BaseHook

from nightshift.forge.merge_requests import MergeRequestForge
from nightshift.trackers.base import TrackerConfigError, TrackerError
from nightshift.trackers.clients.gitlab import (
    TransportPolicy,
    describe_gitlab,
    gitlab_errors,
    make_gitlab_client,
)
from nightshift.trackers.gitlab import GitLabIssueTracker
from nightshift_airflow.provider import GITLAB_UI, form_extras


class GitLabHook(BaseHook):
    """Interact with GitLab through python-gitlab, with Nightshift's transport policy."""

    conn_name_attr = "gitlab_conn_id"
    default_conn_name = "gitlab_default"
    conn_type = "gitlab"
    hook_name = "GitLab"

    def __init__(self, gitlab_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gitlab_conn_id = gitlab_conn_id
        self._client: gitlab.Gitlab | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return GITLAB_UI  # one source with the provider's connection form (nightshift_airflow.provider)

    def get_conn(self) -> gitlab.Gitlab:
        """The configured client, built once per hook."""
        if self._client is None:
            self._client = self._client_for(self.get_connection(self.gitlab_conn_id))
        return self._client

    async def aget_conn(self) -> gitlab.Gitlab:
        """The client, for triggers: the connection is read the triggerer's (async) way."""
        if self._client is None:
            self._client = self._client_for(await self.aget_connection(self.gitlab_conn_id))
        return self._client

    def _client_for(self, conn: Any) -> gitlab.Gitlab:
        """A python-gitlab client from the connection (host, token, transport extras)."""
        where = describe_gitlab(conn.host or "<no host>", self.gitlab_conn_id)
        if not conn.host or not conn.password:
            raise TrackerConfigError(
                f"{where}: the connection needs host (the GitLab URL) and password (a private token)"
            )
        try:
            policy = TransportPolicy.model_validate(form_extras(conn.extra_dejson or {}, "gitlab"))
        except ValueError as exc:
            raise TrackerConfigError(f"{where}: invalid extras: {exc}") from exc
        url = conn.host if "://" in conn.host else f"https://{conn.host}"
        return make_gitlab_client(
            url,
            conn.password,
            timeout=policy.timeout,
            retries=policy.retries,
            max_retry_after=policy.max_retry_after,
        )

    def get_forge(self, project_path: str) -> MergeRequestForge:
        return MergeRequestForge(self.get_conn(), project_path, connection_id=self.gitlab_conn_id)

    def get_tracker(self, projects: Sequence[str]) -> GitLabIssueTracker:
        return GitLabIssueTracker(self.get_conn(), projects, connection_id=self.gitlab_conn_id)

    def test_connection(self) -> tuple[bool, str]:
        """Authenticate once (GET /user); the message names the connection either way."""
        try:
            client = self.get_conn()
            with gitlab_errors(client.url, "authenticating", self.gitlab_conn_id):
                client.auth()
        except TrackerError as exc:
            return False, str(exc)
        user = client.user.username if client.user is not None else "?"
        return True, f"{describe_gitlab(client.url, self.gitlab_conn_id)}: authenticated as {user}"
