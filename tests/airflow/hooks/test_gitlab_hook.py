"""GitLabHook: an Airflow Connection (from AIRFLOW_CONN_*) to a configured client, forge and tracker."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from nightshift.forge.merge_requests import MergeRequestForge
from nightshift.trackers.base import TrackerConfigError
from nightshift.trackers.clients.gitlab import PolicyGitlab
from nightshift.trackers.gitlab import GitLabIssueTracker
from nightshift_airflow.hooks.gitlab import GitLabHook
from standins.fixtures import running_gitlab
from standins.gitlab import GitLabStandin

P = "group/app"


@pytest.fixture
def server() -> Iterator[GitLabStandin]:
    with running_gitlab() as standin:
        yield standin


def set_connection(monkeypatch, conn_id: str = "gitlab_default", **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "gitlab", **fields}))


def test_hook_identity():
    assert (GitLabHook.conn_name_attr, GitLabHook.default_conn_name, GitLabHook.conn_type, GitLabHook.hook_name) == (
        "gitlab_conn_id", "gitlab_default", "gitlab", "GitLab")
    assert GitLabHook.get_ui_field_behaviour()["relabeling"]["password"] == "Private token"


def test_get_conn_builds_the_configured_client_once(server, monkeypatch):
    set_connection(monkeypatch, host=server.base_url, password=server.token,
                   extra=json.dumps({"timeout": 12, "retries": 2, "max_retry_after": 5}))
    hook = GitLabHook()
    client = hook.get_conn()
    assert isinstance(client, PolicyGitlab)
    assert hook.get_conn() is client
    assert client.url == server.base_url and client.private_token == server.token
    assert (client.timeout, client.policy.retries, client.policy.max_retry_after) == (12, 2, 5)
    assert client.retry_transient_errors is True


def test_forge_and_tracker_work_end_to_end(server, monkeypatch):
    set_connection(monkeypatch, host=server.base_url, password=server.token)
    hook = GitLabHook()
    hook.get_conn().projects.get(P, lazy=True).branches.create({"branch": "agent/PROJ-9", "ref": "main"})
    forge = hook.get_forge(P)
    assert isinstance(forge, MergeRequestForge)
    ref = forge.upsert_draft_mr("agent/PROJ-9", "main", "feat(PROJ-9): x", "body", ["nightshift"])
    assert ref.draft and ref.iid == 1
    server.add_issue(P, "Ready", labels=["ready-for-agent"])
    tracker = hook.get_tracker([P])
    assert isinstance(tracker, GitLabIssueTracker)
    assert [issue.key for issue in tracker.search("ready-for-agent")] == [f"{P}#1"]


def test_a_bad_token_names_the_connection(server, monkeypatch):
    set_connection(monkeypatch, "gitlab_nightly", host=server.base_url, password="glpat-revoked")
    hook = GitLabHook(gitlab_conn_id="gitlab_nightly")
    with pytest.raises(TrackerConfigError) as err:
        hook.get_forge(P).find_open_mr("agent/PROJ-1")
    assert "'gitlab_nightly'" in str(err.value) and f"GitLab at {server.base_url}" in str(err.value)
    ok, message = hook.test_connection()
    assert ok is False and "'gitlab_nightly'" in message and "401" in message


def test_test_connection_succeeds_with_a_good_token(server, monkeypatch):
    set_connection(monkeypatch, host=server.base_url, password=server.token)
    ok, message = GitLabHook().test_connection()
    assert ok is True and "nightshift-bot" in message and "'gitlab_default'" in message


def test_missing_token_or_bad_extras_name_the_connection(monkeypatch):
    set_connection(monkeypatch, host="http://127.0.0.1:9")
    with pytest.raises(TrackerConfigError, match=r"'gitlab_default'.*needs host .* and password"):
        GitLabHook().get_conn()
    set_connection(monkeypatch, host="http://127.0.0.1:9", password="glpat-x", extra=json.dumps({"retries": 99}))
    with pytest.raises(TrackerConfigError, match=r"'gitlab_default'.*invalid extras"):
        GitLabHook().get_conn()
