"""The Jira hook: an Airflow Connection turned into a configured `jira.JIRA` client and the core's tracker.
Nothing else lives here; the domain logic is in `nightshift.trackers.jira`.

Connection: host = base URL (https://jira.example.com or https://example.atlassian.net); login + password
= basic auth (user + password on Server/DC, e-mail + API token on Cloud); password alone = a personal
access token (bearer, Server/DC). Optional extras: `deployment` ("cloud" or "server"; else detected from
serverInfo), `timeout` (seconds per request), `max_retries` and `max_retry_delay` (the jira library's own
retries of 429/503, see nightshift.trackers.clients.jira).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook
from jira import JIRA
from pydantic import ValidationError

from nightshift.trackers.base import TrackerConfigError, TrackerError
from nightshift.trackers.clients.jira import describe_jira, make_jira_client
from nightshift.trackers.jira import JiraTracker
from nightshift_airflow.provider import JIRA_UI, JiraExtras, form_extras


class JiraHook(BaseHook):
    """Jira Server/DC or Cloud through the `jira` library, with Nightshift's transport policy."""

    conn_name_attr = "jira_conn_id"
    default_conn_name = "jira_default"
    conn_type = "jira"
    hook_name = "Jira (Nightshift)"

    def __init__(self, jira_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jira_conn_id = jira_conn_id
        self._client: JIRA | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return JIRA_UI  # one source with the provider's connection form (nightshift_airflow.provider)

    def get_conn(self) -> JIRA:
        """The configured client, built (and its credentials checked) once per hook."""
        if self._client is None:
            conn = self.get_connection(self.jira_conn_id)
            host = (conn.host or "").strip()
            where = describe_jira(host or "<no host>", self.jira_conn_id)
            if not host:
                raise TrackerConfigError(f"{where}: the connection needs host (the Jira base URL)")
            try:
                extras = JiraExtras.model_validate(form_extras(conn.extra_dejson or {}, "jira"))
            except ValidationError as exc:
                raise TrackerConfigError(f"{where}: invalid extras: {exc}") from exc
            url = host if "://" in host else f"https://{host}"
            login = conn.login or None
            password = conn.password or None
            if login is not None and password is None:
                raise TrackerConfigError(f"{where}: a login needs a password or API token")
            self._client = make_jira_client(
                url,
                user=login,
                password=password if login is not None else None,
                token=password if login is None else None,
                cloud=None if extras.deployment is None else extras.deployment == "cloud",
                timeout=extras.timeout,
                max_retries=extras.max_retries,
                max_retry_delay=extras.max_retry_delay,
                connection_id=self.jira_conn_id,
            )
        return self._client

    def get_tracker(self) -> JiraTracker:
        return JiraTracker(self.get_conn(), connection_id=self.jira_conn_id)

    def test_connection(self) -> tuple[bool, str]:
        """Connect and check the credentials once (GET myself); the message names the connection."""
        try:
            client = self.get_conn()
        except TrackerError as exc:
            return False, str(exc)
        service = describe_jira(client.server_url, self.jira_conn_id)
        return True, f"{service}: connected ({client.deploymentType})"
