"""409 "it already exists" is `TrackerConflict`, by the one status rule, on the real clients.

GitLab answers 409 to a second open MR for one source branch, an existing label and an existing issue
link; the adapters count those creates as done (`trackers.writes.unless_exists`) instead of inspecting
`response_code` in place.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from jira import JIRAError

from nightshift.trackers.clients.gitlab import gitlab_errors, make_gitlab_client
from nightshift.trackers.clients.jira import jira_error
from nightshift.trackers.errors import TrackerConflict, TrackerError, TrackerNotFound, error_class
from nightshift.trackers.writes import unless_exists
from standins.fixtures import running_gitlab
from standins.gitlab import GitLabStandin

P = "group/app"
TOKEN = "glpat-conflict-bot"
SEED = {
    "users": [{"username": "nightshift-bot"}],
    "tokens": [{"token": TOKEN, "user": "nightshift-bot"}],
    "projects": [
        {
            "path_with_namespace": P,
            "labels": [{"name": "nightshift"}],
            "issues": [{"title": "One"}, {"title": "Two"}],
            "issue_links": [{"source_iid": 1, "target_iid": 2, "link_type": "relates_to"}],
        }
    ],
}


@pytest.fixture(scope="module")
def server() -> Iterator[GitLabStandin]:
    with running_gitlab(SEED) as standin:
        yield standin


def guard_for(server: GitLabStandin):  # type: ignore[no-untyped-def]
    return lambda action: gitlab_errors(server.base_url, action, "gitlab_test")


def test_409_is_a_conflict_by_the_one_status_rule() -> None:
    assert error_class(409) is TrackerConflict and issubclass(TrackerConflict, TrackerError)


def test_an_existing_label_is_a_conflict_on_the_real_client(server: GitLabStandin) -> None:
    project = make_gitlab_client(server.base_url, TOKEN, timeout=5, retries=0).projects.get(P, lazy=True)
    with pytest.raises(TrackerConflict) as conflict:
        with guard_for(server)("creating the label 'nightshift'"):
            project.labels.create({"name": "nightshift", "color": "#6699cc"})
    assert "(409)" in str(conflict.value) and "'gitlab_test'" in str(conflict.value)
    assert server.requests("POST", r"/labels$")[-1].status == 409  # GitLab's answer, not a guess


def test_an_existing_link_and_a_second_open_mr_are_conflicts(server: GitLabStandin) -> None:
    client = make_gitlab_client(server.base_url, TOKEN, timeout=5, retries=0)
    project = client.projects.get(P)
    issue = project.issues.get(1, lazy=True)
    link = {"target_project_id": project.id, "target_issue_iid": 2, "link_type": "relates_to"}
    with pytest.raises(TrackerConflict):
        with guard_for(server)("linking #1 to #2"):
            issue.links.create(link)

    project.branches.create({"branch": "agent/T-1", "ref": "main"})
    mr = {"source_branch": "agent/T-1", "target_branch": "main", "title": "Draft: x"}
    project.mergerequests.create(mr)
    with pytest.raises(TrackerConflict):
        with guard_for(server)("creating the MR of agent/T-1"):
            project.mergerequests.create(mr)


def test_unless_exists_counts_a_conflict_as_done(server: GitLabStandin) -> None:
    client = make_gitlab_client(server.base_url, TOKEN, timeout=5, retries=0)
    project = client.projects.get(P, lazy=True)
    guard = guard_for(server)
    created = unless_exists(
        lambda: project.labels.create({"name": "fresh", "color": "#000000"}), guard=guard, what="'fresh'"
    )
    assert created is not None and created.name == "fresh"
    again = unless_exists(
        lambda: project.labels.create({"name": "fresh", "color": "#000000"}), guard=guard, what="'fresh'"
    )
    assert again is None
    # Any other failure still raises, with its own class.
    missing = client.projects.get("group/missing", lazy=True)
    with pytest.raises(TrackerNotFound):
        unless_exists(
            lambda: missing.labels.create({"name": "x", "color": "#000000"}), guard=guard, what="'x'"
        )


def test_jira_maps_409_the_same_way() -> None:
    error = jira_error(JIRAError(status_code=409, text="conflict"), "Jira at http://x", "linking")
    assert isinstance(error, TrackerConflict) and "HTTP 409" in str(error)
