"""Each tracker's naming rules (trackers.keys): ticket id <-> tracker key, with no branching on the kind."""

from __future__ import annotations

import pytest

from nightshift.trackers.keys import (
    GitLabKeys,
    JiraKeys,
    check_gitlab_path,
    is_ticket_prefix,
    key_scheme,
    parse_gitlab_reference,
)

PREFIXES = {"group/app": "APP"}


def test_jira_keys_are_ticket_ids_except_gitlab_prefixes() -> None:
    keys = key_scheme("jira", PREFIXES)
    assert isinstance(keys, JiraKeys)
    assert keys.ticket_id("PROJ-142", "PROJ") == "PROJ-142"
    assert keys.tracker_key("OTHER-3") == "OTHER-3"  # any project of the site
    assert keys.tracker_key("APP-3") is None  # a GitLab project's prefix is never a Jira key
    assert keys.repository("PROJ") is None and keys.id_warning("PROJ") is None
    assert not keys.text_references
    with pytest.raises(ValueError, match="not a valid ticket id"):
        keys.ticket_id("PROJ-1$(id)", "PROJ")


def test_gitlab_references_round_trip_through_the_configured_or_derived_prefix() -> None:
    keys = key_scheme("gitlab", PREFIXES)
    assert isinstance(keys, GitLabKeys)
    assert keys.ticket_id("group/app#12", "group/app") == "APP-12"
    assert keys.ticket_id("#12", "group/app") == "APP-12"  # relative to the project
    assert keys.ticket_id("team/my-service#5", "group/app") == "MY_SERVICE-5"
    assert keys.tracker_key("APP-12") == "group/app#12"
    assert keys.tracker_key("MY_SERVICE-5", ["team/my-service"]) == "team/my-service#5"
    assert keys.tracker_key("MY_SERVICE-5") is None  # a project nobody named
    assert keys.id_warning("group/app") is None
    assert "derived from team/my-service" in (keys.id_warning("team/my-service") or "")
    assert keys.repository("group/app") == "group/app" and keys.text_references


@pytest.mark.parametrize("bad", ["group/app#12; rm -rf /", "../x#1", "group/app#-1", "app#1", "g/a.git#1"])
def test_unsafe_gitlab_references_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        GitLabKeys(PREFIXES).ticket_id(bad, "group/app")
    with pytest.raises(ValueError):
        parse_gitlab_reference(bad)


def test_an_unknown_tracker_is_named() -> None:
    with pytest.raises(ValueError, match="no tracker called 'redmine'"):
        key_scheme("redmine")


@pytest.mark.parametrize("bad", ["app", "../etc", "group/../app", "group/app.git", "group/app/", "-x/app", "g/a b"])
def test_one_gitlab_path_rule_for_config_and_references(bad: str) -> None:
    assert check_gitlab_path("group/sub/my-app.v2") == "group/sub/my-app.v2"
    with pytest.raises(ValueError, match="not a GitLab project path"):
        check_gitlab_path(bad)
    with pytest.raises(ValueError):  # the same path rule inside an issue reference
        parse_gitlab_reference(f"{bad}#1")
    with pytest.raises(ValueError):
        GitLabKeys().check_project(bad)


def test_a_jira_project_is_a_ticket_id_prefix() -> None:
    assert is_ticket_prefix("PROJ") and is_ticket_prefix("A_1") and not is_ticket_prefix("proj")
    assert not is_ticket_prefix("A" * 21) and not is_ticket_prefix("1A")
    assert JiraKeys().check_project("OPS") == "OPS"
    with pytest.raises(ValueError, match="'proj' is not a Jira project key"):
        JiraKeys().check_project("proj")
