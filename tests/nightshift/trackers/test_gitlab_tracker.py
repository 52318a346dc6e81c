"""GitLabIssueTracker against the GitLab stand-in with real python-gitlab.

Fault-injection tests state their figure: objects created per logical operation = 1.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nightshift.trackers.base import IssueLink, Tracker, TrackerConfigError, TrackerError, marker_key
from nightshift.trackers.clients.gitlab import make_gitlab_client
from nightshift.trackers.gitlab import GitLabIssueTracker, parse_issue_key, priority_from_labels
from standins.fixtures import running_gitlab
from standins.gitlab import GitLabStandin
from standins.http import Fault

APP, LIB = "group/app", "group/lib"
NOTE_POST = r"/issues/\d+/notes$"
ISSUE_POST = r"/issues$"
LINK_POST = r"/issues/\d+/links$"
MARKER = marker_key(batch="2024-01-15-overnight", ticket="PROJ-7", kind="followup")

SEED = {
    "users": [{"username": "nightshift-bot", "name": "Nightshift Bot"}, {"username": "alice"}],
    "tokens": [{"token": "glpat-tracker-bot", "user": "nightshift-bot"},
               {"token": "glpat-tracker-alice", "user": "alice"}],
    "projects": [
        {
            "path_with_namespace": APP,
            "issues": [
                {"title": "Add login", "description": "## Agent Readiness\n- [x] Acceptance criteria clear",
                 "labels": ["ready-for-agent", "priority::high"], "author": "alice"},
                {"title": "Refactor API", "labels": ["ready-for-agent"], "author": "alice"},
                {"title": "Not ready", "labels": ["backlog"], "author": "alice"},
                {"title": "Closed dependency", "labels": ["ready-for-agent"], "state": "closed", "author": "alice"},
            ],
            "issue_links": [
                {"source_iid": 2, "target_iid": 1, "link_type": "is_blocked_by"},
                {"source_iid": 1, "target_iid": 4, "link_type": "relates_to"},
            ],
        },
        {"path_with_namespace": LIB, "issues": [{"title": "Lib task", "labels": ["ready-for-agent"]}]},
    ],
}


@pytest.fixture
def server() -> Iterator[GitLabStandin]:
    with running_gitlab(SEED) as standin:
        yield standin


def tracker_for(server: GitLabStandin, token: str = "glpat-tracker-bot", projects=(APP, LIB),
                connection_id: str | None = None) -> GitLabIssueTracker:
    client = make_gitlab_client(server.base_url, token, timeout=5, retries=3)
    return GitLabIssueTracker(client, list(projects), connection_id=connection_id)


def report(record_property, figure: str, value: int) -> None:
    record_property(figure, value)
    print(f"{figure} = {value}")


def test_it_is_a_tracker(server):
    assert isinstance(tracker_for(server), Tracker)


def test_keys_and_priorities():
    assert parse_issue_key("group/sub/app#12") == ("group/sub/app", 12)
    for bad in ("app#1", "group/app#x", "group/../app#1", "group/app#1; rm -rf /", "-x/app#1"):
        with pytest.raises(TrackerError):
            parse_issue_key(bad)
    assert priority_from_labels(["x", "Priority::High"]) == "high"
    assert priority_from_labels(["priority:high"]) is None


# --- reading -------------------------------------------------------------------------------------
def test_search_by_label_across_projects_with_links(server):
    found = {issue.key: issue for issue in tracker_for(server).search("ready-for-agent")}
    assert sorted(found) == ["group/app#1", "group/app#2", "group/lib#1"]  # closed and unlabelled excluded
    login = found["group/app#1"]
    assert (login.tracker, login.project, login.title, login.priority) == ("gitlab", APP, "Add login", "high")
    assert login.description_format == "markdown" and login.description.startswith("## Agent Readiness")
    assert login.url == f"{server.base_url}/{APP}/-/issues/1" and login.status == "opened" and not login.done
    assert login.links == [IssueLink(kind="blocks", key="group/app#2", done=False),
                           IssueLink(kind="relates_to", key="group/app#4", done=True)]
    assert found["group/app#2"].links == [IssueLink(kind="is_blocked_by", key="group/app#1", done=False)]


def test_paging_through_1000_issues_returns_all_of_them(server, record_property):
    for n in range(1000):
        server.add_issue(LIB, f"bulk {n}", labels=["bulk"])
    issues = list(tracker_for(server, projects=[LIB]).search("bulk"))
    keys = {issue.key for issue in issues}
    report(record_property, "issues returned of 1000", len(keys))
    assert len(issues) == 1000 and len(keys) == 1000
    assert len(server.requests("GET", r"/projects/group%2Flib/issues\b(?!/)")) == 10  # 10 pages of 100


def test_get_includes_comments_and_is_done_follows_state(server):
    tracker = tracker_for(server)
    tracker.comment_once("group/app#1", marker_key(kind="hello"), "first comment")
    issue = tracker.get("group/app#1")
    assert issue.comments == [f"first comment\n\n<!-- {marker_key(kind='hello')} -->"]
    assert tracker.is_done("group/app#4") is True and tracker.is_done("group/app#1") is False
    with pytest.raises(TrackerError, match=r"GitLab at .*reading group/app#99 in group/app failed \(404\)"):
        tracker.get("group/app#99")


def test_search_needs_a_label(server):
    with pytest.raises(TrackerConfigError):
        list(tracker_for(server).search(" , "))


# --- comments and labels -----------------------------------------------------------------------------
def test_comment_once_posts_once_and_updates_in_place(server):
    tracker = tracker_for(server)
    key = marker_key(batch="b1", ticket="PROJ-1", kind="not-ready")
    first = tracker.comment_once("group/app#1", key, "Missing: acceptance criteria")
    assert tracker.comment_once("group/app#1", key, "Missing: acceptance criteria") == first
    assert tracker.comment_once("group/app#1", key, "Missing: test cases") == first
    assert server.notes(APP, issue_iid=1) == [f"Missing: test cases\n\n<!-- {key} -->"]


@pytest.mark.parametrize("kind", ["status_after", "drop_after"])
def test_lost_comment_response_leaves_one_comment(server, record_property, kind):
    server.inject(Fault("POST", NOTE_POST, kind, status=502))
    tracker_for(server).comment_once("group/app#1", marker_key(kind="x"), "body")
    report(record_property, "objects created per logical operation", len(server.notes(APP, issue_iid=1)))
    assert len(server.notes(APP, issue_iid=1)) == 1
    assert len(server.requests("POST", NOTE_POST)) == 1, "no blind re-send"


def test_ensure_labels_adds_and_removes_idempotently(server):
    tracker = tracker_for(server)
    for _ in range(2):
        tracker.ensure_labels("group/app#1", ["agent-done"], ["ready-for-agent"])
    assert tracker.get("group/app#1").labels == ["priority::high", "agent-done"]
    tracker.ensure_labels("group/app#1", [], [])
    with pytest.raises(TrackerConfigError):
        tracker.ensure_labels("group/app#1", ["a,b"])


def test_writes_stay_in_the_configured_projects(server):
    tracker = tracker_for(server, projects=[APP])
    with pytest.raises(TrackerConfigError, match="not one of this tracker's projects"):
        tracker.comment_once("group/lib#1", marker_key(kind="x"), "body")
    assert server.notes(LIB, issue_iid=1) == []


# --- follow-up tickets -------------------------------------------------------------------------------
def test_followup_is_created_once_and_linked_both_ways(server):
    tracker = tracker_for(server)
    key = tracker.create_followup_once("group/app#1", MARKER, "Follow-up: logout", "Remaining work: logout")
    assert key == "group/app#5"
    assert tracker.create_followup_once("group/app#1", MARKER, "Follow-up: logout", "again") == key
    assert len(server.issues(APP)) == 5
    assert IssueLink(kind="relates_to", key=key, done=False) in tracker.get("group/app#1").links
    assert tracker.get(key).links == [IssueLink(kind="relates_to", key="group/app#1", done=False)]
    assert tracker.get(key).description.endswith(f"<!-- {MARKER} -->")


@pytest.mark.parametrize("path,kind", [(ISSUE_POST, "status_after"), (ISSUE_POST, "drop_after"),
                                       (ISSUE_POST, "drop"), (LINK_POST, "status_after")])
def test_lost_followup_response_leaves_one_issue_and_one_link(server, record_property, path, kind):
    server.inject(Fault("POST", path, kind, status=502))
    tracker = tracker_for(server)
    key = tracker.create_followup_once("group/app#1", MARKER, "Follow-up", "body")
    followups = [i for i in server.issues(APP) if MARKER in i["description"]]
    report(record_property, "objects created per logical operation", len(followups))
    assert len(followups) == 1 and followups[0]["references"]["full"] == key
    links = [link for link in tracker.get("group/app#1").links if link.key == key]
    assert len(links) == 1


def test_an_unlinked_followup_from_a_crashed_run_is_found_and_linked(server):
    server.add_issue(APP, "Follow-up", description=f"body\n\n<!-- {MARKER} -->", author="nightshift-bot")
    key = tracker_for(server).create_followup_once("group/app#1", MARKER, "Follow-up", "body")
    assert key == "group/app#5" and len(server.issues(APP)) == 5
    assert IssueLink(kind="relates_to", key=key, done=False) in tracker_for(server).get("group/app#1").links


def test_a_marker_planted_by_someone_else_does_not_suppress_the_followup(server):
    server.add_issue(APP, "Fake", description=f"<!-- {MARKER} -->", author="alice")
    key = tracker_for(server).create_followup_once("group/app#1", MARKER, "Follow-up", "body")
    assert key == "group/app#6"


# --- errors ----------------------------------------------------------------------------------------
def test_bad_token_names_gitlab_and_the_connection(server):
    tracker = tracker_for(server, token="glpat-not-valid", connection_id="gitlab_issues")
    with pytest.raises(TrackerConfigError) as err:
        list(tracker.search("ready-for-agent"))
    assert f"GitLab at {server.base_url}" in str(err.value) and "'gitlab_issues'" in str(err.value)


def test_read_only_token_cannot_comment(server):
    seed = {**SEED, "tokens": [*SEED["tokens"], {"token": "glpat-tracker-ro", "user": "alice",
                                                  "scopes": ["read_api"]}]}
    with running_gitlab(seed) as ro_server:
        tracker = tracker_for(ro_server, token="glpat-tracker-ro")
        assert len(list(tracker.search("ready-for-agent"))) == 3
        with pytest.raises(TrackerConfigError, match=r"failed \(403\)"):
            tracker.comment_once("group/app#1", marker_key(kind="x"), "body")
