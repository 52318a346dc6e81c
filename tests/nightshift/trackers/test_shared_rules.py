"""One set of rules on both trackers: the shared write helper and error hierarchy, driven through the real
`jira` and python-gitlab clients against the stand-ins, with the same faults and the same expectations.

Figures stated: comments per marker after the fault (1) and POSTs sent (1 when the first was applied,
2 when a look-up showed it absent, never more).
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from nightshift.trackers import writes
from nightshift.trackers.base import Tracker, marker_key
from nightshift.trackers.clients import gitlab as gitlab_client
from nightshift.trackers.clients import jira as jira_client
from nightshift.trackers.clients.gitlab import make_gitlab_client
from nightshift.trackers.clients.http import retry_after_seconds
from nightshift.trackers.clients.jira import make_jira_client
from nightshift.trackers.errors import (
    TrackerAuthError,
    TrackerConfigError,
    TrackerConflict,
    TrackerError,
    TrackerNotFound,
    TrackerUnavailable,
    error_class,
)
from nightshift.trackers.gitlab import GitLabIssueTracker, with_marker
from nightshift.trackers.jira import JiraTracker
from standins.fixtures import running_gitlab
from standins.http import Fault
from standins.jira import start_jira

MARKER = marker_key(batch="2024-01-15-overnight", ticket="T-1", kind="not-ready")
KINDS = ["jira-server", "jira-cloud", "gitlab"]


@dataclass
class Side:
    """One tracker behind its real client and stand-in, described the same way for every test."""

    kind: str
    tracker: Any
    key: str  # an existing issue
    missing: str  # an issue that does not exist
    comment_post: str  # regex of the comment POST path
    comment_delete: str
    issue_get: str
    comments: Callable[[], list[str]]
    count: Callable[[str, str], int]
    inject: Callable[[Fault], Any]
    post_marked: Callable[[str], Any]  # post a marked copy as the connection's own account
    bad_credentials: Callable[[], Tracker]  # a tracker (or client) built with a wrong secret


def _jira_side(mode: str) -> Iterator[Side]:
    seed = {
        "projects": [{"key": "PROJ", "name": "Project"}],
        "issues": [{"key": "PROJ-1", "summary": "One", "labels": ["ready-for-agent"]}],
    }
    standin = start_jira(mode, seed)
    try:
        user, secret = standin.credentials()

        def make(password: str = secret) -> JiraTracker:
            client = make_jira_client(
                standin.base_url,
                user=user,
                password=password,
                connection_id="jira_test",
                timeout=5.0,
                max_retries=2,
                max_retry_delay=3.0,
            )
            return JiraTracker(client, connection_id="jira_test")

        tracker = make()
        yield Side(
            kind=f"jira-{mode}",
            tracker=tracker,
            key="PROJ-1",
            missing="PROJ-999",
            comment_post=r"/issue/PROJ-1/comment$",
            comment_delete=r"/issue/[^/]+/comment/\d+$",  # by the issue id, as `self` links are
            issue_get=r"/issue/PROJ-1$",
            comments=lambda: standin.comment_bodies("PROJ-1"),
            count=lambda method, regex: len(standin.requests(method, regex)),
            inject=standin.inject,
            post_marked=lambda body: tracker.client.add_comment("PROJ-1", tracker._marked_body(body, MARKER)),
            bad_credentials=lambda: make("wrong-" + secret),
        )
    finally:
        standin.stop()


def _gitlab_side() -> Iterator[Side]:
    seed = {
        "users": [{"username": "nightshift-bot"}],
        "tokens": [{"token": "glpat-shared-bot", "user": "nightshift-bot"}],
        "projects": [{"path_with_namespace": "group/app", "issues": [{"title": "One"}]}],
    }
    with running_gitlab(seed) as server:

        def make(token: str = "glpat-shared-bot") -> GitLabIssueTracker:
            client = make_gitlab_client(server.base_url, token, timeout=5, retries=2, max_retry_after=3)
            return GitLabIssueTracker(client, ["group/app"], connection_id="gitlab_test")

        tracker = make()
        notes = (
            make_gitlab_client(server.base_url, "glpat-shared-bot")
            .projects.get("group/app", lazy=True)
            .issues.get(1, lazy=True)
            .notes
        )

        def bad() -> GitLabIssueTracker:
            bad_tracker = make("glpat-wrong")
            list(bad_tracker.search("ready-for-agent"))  # python-gitlab checks the token on first use
            return bad_tracker

        yield Side(
            kind="gitlab",
            tracker=tracker,
            key="group/app#1",
            missing="group/app#99",
            comment_post=r"/issues/1/notes$",
            comment_delete=r"/issues/1/notes/\d+$",
            issue_get=r"/issues/1$",
            comments=lambda: server.notes("group/app", issue_iid=1),
            count=lambda method, regex: len(server.requests(method, regex)),
            inject=server.inject,
            post_marked=lambda body: notes.create({"body": with_marker(body, MARKER)}),
            bad_credentials=bad,
        )


@pytest.fixture(params=KINDS)
def side(request: pytest.FixtureRequest) -> Iterator[Side]:
    kind = request.param
    yield from (_gitlab_side() if kind == "gitlab" else _jira_side(kind.removeprefix("jira-")))


# --- the ambiguous-write rule, on both trackers ------------------------------------------------------


def test_a_write_lost_before_the_server_applied_it_is_resent_once(side: Side) -> None:
    side.inject(Fault("POST", side.comment_post, "drop"))
    side.tracker.comment_once(side.key, MARKER, "Escalated")
    assert len(side.comments()) == 1
    assert side.count("POST", side.comment_post) == 2  # the lost one, then one re-send after a look-up


def test_a_write_applied_before_its_response_was_lost_is_not_resent(side: Side) -> None:
    side.inject(Fault("POST", side.comment_post, "status_after", status=502))
    first = side.tracker.comment_once(side.key, MARKER, "Escalated")
    assert side.tracker.comment_once(side.key, MARKER, "Escalated") == first
    assert len(side.comments()) == 1 and side.count("POST", side.comment_post) == 1


def test_two_lost_sends_fail_as_unavailable_and_the_task_retry_writes_once(side: Side) -> None:
    side.inject(Fault("POST", side.comment_post, "drop", times=2))
    with pytest.raises(TrackerUnavailable):
        side.tracker.comment_once(side.key, MARKER, "Escalated")
    assert side.comments() == [] and side.count("POST", side.comment_post) == 2  # never a third send
    side.tracker.comment_once(side.key, MARKER, "Escalated")  # what Airflow's task retry does
    assert len(side.comments()) == 1


# --- marker upsert converges on the oldest copy ----------------------------------------------------


def test_duplicate_marked_copies_converge_on_the_oldest(side: Side) -> None:
    """What two runs that both posted leave behind: the oldest copy is kept and edited, the rest go."""
    oldest = side.post_marked("first run")
    side.post_marked("second run")
    kept = side.tracker.comment_once(side.key, MARKER, "final text")
    assert kept == str(oldest.id)
    assert len(side.comments()) == 1 and "final text" in str(side.comments()[0])
    assert side.count("POST", side.comment_post) == 2  # only the two planted ones: nothing re-posted


def test_a_duplicate_already_deleted_by_the_other_run_is_fine(side: Side) -> None:
    oldest = side.post_marked("first run")
    side.post_marked("second run")
    side.inject(Fault("DELETE", side.comment_delete, "status", status=404))  # the other run was first
    assert side.tracker.comment_once(side.key, MARKER, "final text") == str(oldest.id)
    assert side.count("DELETE", side.comment_delete) == 1


# --- Retry-After, bad credentials, not found: one rule, one error class --------------------------------


def test_an_http_date_retry_after_is_honoured(side: Side) -> None:
    when = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1), usegmt=True)
    side.inject(Fault("GET", side.issue_get, "status", status=429, retry_after=when))
    assert side.tracker.get(side.key).key == side.key
    assert side.count("GET", side.issue_get) == 2


def test_bad_credentials_are_the_same_error_class(side: Side) -> None:
    with pytest.raises(TrackerAuthError) as refused:
        side.bad_credentials()
    assert isinstance(refused.value, TrackerConfigError)  # fix the connection; retrying will not help
    assert "wrong" not in str(refused.value)


def test_a_missing_issue_is_tracker_not_found(side: Side) -> None:
    with pytest.raises(TrackerNotFound):
        side.tracker.is_done(side.missing)
    with pytest.raises(LookupError):  # what intake's dependency look-up catches
        side.tracker.get(side.missing)


# --- the helper itself, without a server ----------------------------------------------------------------


def _guard(action: str) -> AbstractContextManager[None]:
    return nullcontext()  # the errors are already `trackers.errors`: nothing to translate


class _Flaky:
    """A create that loses its first `lost` responses; `applied` says whether a lost one was applied."""

    def __init__(self, lost: int, applied: bool) -> None:
        self.lost, self.applied, self.sent, self.stored = lost, applied, 0, []

    def create(self) -> str:
        self.sent += 1
        if self.sent <= self.lost:
            if self.applied:
                self.stored.append(f"c{self.sent}")
            raise TrackerUnavailable("lost")
        self.stored.append(f"c{self.sent}")
        return self.stored[-1]

    def find(self) -> str | None:
        return self.stored[0] if self.stored else None


@pytest.mark.parametrize(
    ("lost", "applied", "sent", "result"),
    [(0, False, 1, "c1"), (1, True, 1, "c1"), (1, False, 2, "c2")],
)
def test_write_once_sends_at_most_twice(lost: int, applied: bool, sent: int, result: str) -> None:
    flaky = _Flaky(lost, applied)
    assert writes.create_once(flaky.find, flaky.create, guard=_guard, what="x") == result
    assert flaky.sent == sent


def test_write_once_gives_up_after_the_second_lost_send() -> None:
    flaky = _Flaky(2, applied=False)
    with pytest.raises(TrackerUnavailable):
        writes.write_once(flaky.create, flaky.find, guard=_guard, what="x")
    assert flaky.sent == 2


def test_a_lagging_look_up_proves_no_absence_so_nothing_is_resent() -> None:
    flaky = _Flaky(1, applied=False)
    with pytest.raises(TrackerUnavailable):
        writes.create_once(flaky.find, flaky.create, guard=_guard, what="x", find_is_current=False)
    assert flaky.sent == 1
    applied = _Flaky(1, applied=True)  # but a look-up that does show the write still settles it
    assert writes.create_once(applied.find, applied.create, guard=_guard, what="x", find_is_current=False)
    assert applied.sent == 1


def test_only_an_unknown_outcome_is_checked() -> None:
    sent = []

    def refused() -> str:
        sent.append(1)
        raise TrackerAuthError("no")

    with pytest.raises(TrackerAuthError):
        writes.write_once(refused, lambda: pytest.fail("no look-up after a refusal"), guard=_guard, what="x")
    assert sent == [1]


def test_a_failed_check_reports_the_lost_write() -> None:
    def lost() -> str:
        raise TrackerUnavailable("the write was lost")

    def check() -> str | None:
        raise TrackerError("the check failed too")

    with pytest.raises(TrackerUnavailable, match="the write was lost"):
        writes.write_once(lost, check, guard=_guard, what="x")


def test_one_status_rule_for_both_clients() -> None:
    assert [error_class(s) for s in (None, 400, 401, 403, 404, 409, 429, 500, 503)] == [
        TrackerUnavailable,
        TrackerConfigError,
        TrackerAuthError,
        TrackerAuthError,
        TrackerNotFound,
        TrackerConflict,
        TrackerError,
        TrackerUnavailable,
        TrackerUnavailable,
    ]
    assert issubclass(TrackerNotFound, LookupError) and issubclass(TrackerAuthError, TrackerConfigError)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", "7"), ("Mon, 15 Jan 2024 17:00:00 GMT", "0"), ("soon", None)],
)
def test_both_clients_read_retry_after_the_same_way(header: str, seconds: str | None) -> None:
    """The Jira hook (the library int()s the header) and the GitLab hook (capped) share one parser."""
    results = []
    for hook in (jira_client._normalise_retry_after, gitlab_client._cap_retry_after(60)):
        response = requests.Response()
        response.status_code = 429
        response.headers["Retry-After"] = header
        results.append(hook(response).headers.get("Retry-After"))
    assert results == [seconds, seconds]
    assert retry_after_seconds(header, now=dt.datetime(2024, 1, 15, 18, tzinfo=dt.UTC)) == (
        None if seconds is None else int(seconds)
    )
