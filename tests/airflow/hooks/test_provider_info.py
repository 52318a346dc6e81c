"""GitLab and Jira are Airflow connection types through the `apache_airflow_provider` entry point: the
Connections form gets their labels and typed extra fields (from the same models that validate the
extras), and a connection saved from that form is one the hooks accept."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest

from nightshift.trackers.base import TrackerConfigError
from nightshift_airflow.hooks.gitlab import GitLabHook
from nightshift_airflow.provider import form_extras, get_provider_info


def test_the_entry_point_serves_a_valid_provider_info():
    from airflow.providers_manager import _create_provider_info_schema_validator

    ours = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("nightshift_airflow")
    ]
    assert [ep.value for ep in ours] == ["nightshift_airflow.provider:get_provider_info"]
    info = ours[0].load()()
    _create_provider_info_schema_validator().validate(info)
    types = {c["connection-type"]: c for c in info["connection-types"]}
    assert set(types) == {"gitlab", "jira"}
    assert types["gitlab"]["conn-fields"]["retries"]["schema"] == {"type": ["integer", "null"], "default": 5}
    assert types["jira"]["conn-fields"]["deployment"]["schema"]["enum"] == ["cloud", "server", None]


def test_airflow_discovers_the_connection_types_and_their_forms():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    hooks = manager.hooks
    assert hooks["gitlab"].hook_class_name == "nightshift_airflow.hooks.gitlab.GitLabHook"
    assert hooks["jira"].hook_class_name == "nightshift_airflow.hooks.jira.JiraHook"
    assert manager.field_behaviours["gitlab"]["relabeling"]["password"] == "Private token"
    widgets = manager.connection_form_widgets
    assert {"extra__gitlab__timeout", "extra__gitlab__retries", "extra__jira__deployment"} <= set(widgets)


def test_a_connection_saved_from_the_form_is_accepted(monkeypatch):
    assert form_extras({"extra__gitlab__retries": 2, "timeout": None, "max_retry_after": ""}, "gitlab") == {
        "retries": 2
    }
    extra = {"extra__gitlab__retries": 2, "timeout": None, "max_retry_after": 7}
    monkeypatch.setenv(
        "AIRFLOW_CONN_GITLAB_FORM",
        json.dumps(
            {"conn_type": "gitlab", "host": "http://127.0.0.1:9", "password": "glpat-x", "extra": extra}
        ),
    )
    client = GitLabHook(gitlab_conn_id="gitlab_form").get_conn()
    assert (client.policy.retries, client.policy.max_retry_after, client.timeout) == (2, 7, 30.0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_GITLAB_FORM",
        json.dumps(
            {"conn_type": "gitlab", "host": "http://127.0.0.1:9", "password": "x", "extra": {"retries": 99}}
        ),
    )
    with pytest.raises(TrackerConfigError, match="invalid extras"):
        GitLabHook(gitlab_conn_id="gitlab_form").get_conn()


def test_the_provider_info_comes_from_the_hooks():
    info = {c["connection-type"]: c for c in get_provider_info()["connection-types"]}
    assert (
        info["gitlab"]["ui-field-behaviour"]["relabeling"]
        == GitLabHook.get_ui_field_behaviour()["relabeling"]
    )
