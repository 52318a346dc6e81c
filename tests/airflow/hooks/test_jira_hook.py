"""JiraHook: an Airflow connection (AIRFLOW_CONN_JIRA_DEFAULT, JSON form) to a client and the core tracker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from nightshift.trackers.base import TrackerConfigError, TrackerError
from nightshift.trackers.jira import JiraTracker
from nightshift_airflow.hooks.jira import JiraHook
from standins.jira import DEFAULT_PAT, JiraStandin, default_seed, start_jira


@pytest.fixture(params=["server", "cloud"])
def standin(request: pytest.FixtureRequest) -> Iterator[JiraStandin]:
    server = start_jira(request.param, default_seed(request.param))
    yield server
    server.stop()


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str = "jira_default", **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "jira", **fields}))


def test_hook_metadata() -> None:
    assert JiraHook.conn_name_attr == "jira_conn_id" and JiraHook.default_conn_name == "jira_default"
    assert JiraHook.conn_type == "jira" and JiraHook.hook_name == "Jira (Nightshift)"
    assert "host" in JiraHook.get_ui_field_behaviour()["relabeling"]


def test_basic_auth_connection_gives_a_memoised_client_and_the_tracker(
    standin: JiraStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, secret = standin.credentials()
    set_connection(
        monkeypatch,
        host=standin.base_url,
        login=user,
        password=secret,
        extra={"timeout": 5, "max_retries": 1},
    )
    hook = JiraHook()
    client = hook.get_conn()
    assert hook.get_conn() is client  # built once per hook
    assert client.deploymentType == ("Cloud" if standin.mode == "cloud" else "Server")  # detected
    tracker = hook.get_tracker()
    assert isinstance(tracker, JiraTracker) and tracker.connection_id == "jira_default"
    assert [i.key for i in tracker.search('labels = "ready-for-agent" ORDER BY key')] == ["PROJ-1", "PROJ-2"]
    assert hook.test_connection()[0] is True


def test_extra_deployment_is_used(standin: JiraStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    user, secret = standin.credentials()
    set_connection(
        monkeypatch,
        "jira_explicit",
        host=standin.base_url,
        login=user,
        password=secret,
        extra={"deployment": standin.mode},
    )
    client = JiraHook(jira_conn_id="jira_explicit").get_conn()
    assert client._options["rest_api_version"] == ("3" if standin.mode == "cloud" else "2")


def test_password_only_is_a_personal_access_token(monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_jira("server", default_seed("server"))
    try:
        set_connection(monkeypatch, host=server.base_url, password=DEFAULT_PAT)
        assert JiraHook().get_tracker().get("PROJ-1").title == "Add login endpoint"
        bearer = [e for e in server.journal if e.headers.get("authorization", "").startswith("Bearer ")]
        assert bearer, "the token went out as a bearer token"
    finally:
        server.stop()


def test_a_bad_password_names_the_connection(standin: JiraStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    user, _ = standin.credentials()
    set_connection(monkeypatch, "jira_prod", host=standin.base_url, login=user, password="not-the-password")
    hook = JiraHook(jira_conn_id="jira_prod")
    with pytest.raises(TrackerError, match=r"\(connection 'jira_prod'\) refused the credentials") as refused:
        hook.get_conn()
    assert "not-the-password" not in str(refused.value)
    ok, message = hook.test_connection()
    assert ok is False and "jira_prod" in message


def test_bad_connection_settings_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(
        monkeypatch,
        "jira_typo",
        host="http://127.0.0.1:9",
        login="u",
        password="p",
        extra={"deploymnet": "cloud"},
    )
    with pytest.raises(TrackerConfigError, match=r"jira_typo.*invalid extras"):
        JiraHook(jira_conn_id="jira_typo").get_conn()
    set_connection(monkeypatch, "jira_nohost", login="u", password="p")
    with pytest.raises(TrackerConfigError, match=r"jira_nohost.*needs host"):
        JiraHook(jira_conn_id="jira_nohost").get_conn()
