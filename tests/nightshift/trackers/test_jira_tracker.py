"""JiraTracker over the real `jira` client against the Jira stand-in, both deployments, with injected faults.

Figures each fault test states: comments / follow-up tickets / links per logical operation (1), requests
sent per write (1, no blind re-send), retries after 429/503 (bounded by max_retries) and the time taken.
"""

from __future__ import annotations

import email.utils
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from jira import JIRA

from nightshift.trackers.base import (
    Tracker,
    TrackerConfigError,
    TrackerError,
    TrackerNotFound,
    hidden_marker,
    marker_key,
)
from nightshift.trackers.clients.jira import make_jira_client
from nightshift.trackers.jira import JiraTracker, followup_label
from nightshift.trackers.text import adf_marker, to_markdown, wiki_marker
from standins.http import Fault
from standins.jira import READINESS_WIKI, JiraStandin, default_user, readiness_adf, start_jira

MODES = ["server", "cloud"]
CONN = "jira_test"
MARKER = marker_key(batch="2024-01-15-overnight", ticket="PROJ-1", kind="not-ready")
SPEC_CHECKLIST = """## Agent Readiness
- [x] Acceptance criteria clear
- [x] No open questions
- [x] Dependencies: None
- [x] Estimated files: src/feature.py, tests/
- [x] Complexity: Small"""


def seed(mode: str, extra: int = 0) -> dict[str, Any]:
    description = READINESS_WIKI if mode == "server" else readiness_adf()
    return {
        "projects": [{"key": "PROJ", "name": "Project", "components": ["backend", "frontend"]}],
        "issues": [
            {
                "key": "PROJ-1",
                "summary": "Add login endpoint",
                "description": description,
                "labels": ["ready-for-agent"],
                "priority": "High",
                "components": ["backend"],
                "custom": {"Complexity": "Small", "Story Points": 3},
                "comments": ["Is the API stable?"],
            },
            {"key": "PROJ-2", "summary": "Add logout endpoint", "labels": ["ready-for-agent"]},
            {"key": "PROJ-3", "summary": "Session cleanup", "status": "Done"},
            {"key": "PROJ-4", "summary": "Refactor API"},
            *({"summary": f"Bulk {n}", "labels": ["bulk"]} for n in range(extra)),
        ],
        "links": [
            {"type": "Blocks", "source": "PROJ-3", "target": "PROJ-2"},
            {"type": "Relates", "source": "PROJ-1", "target": "PROJ-4"},
        ],
    }


@dataclass
class Env:
    standin: JiraStandin
    client: JIRA
    tracker: JiraTracker

    @property
    def mode(self) -> str:
        return self.standin.mode

    def count(self, method: str, path_regex: str) -> int:
        return len(self.standin.requests(method, path_regex))


def make_env(mode: str, standin: JiraStandin | None = None, **client_kwargs: Any) -> Env:
    standin = standin or start_jira(mode, seed(mode))
    user, secret = standin.credentials()
    options = {"timeout": 2.0, "max_retries": 2, "max_retry_delay": 2.0, **client_kwargs}
    client = make_jira_client(standin.base_url, user=user, password=secret, connection_id=CONN, **options)
    return Env(standin, client, JiraTracker(client, connection_id=CONN))


@pytest.fixture(params=MODES)
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    made = make_env(request.param)
    yield made
    made.standin.stop()


# --- reading -------------------------------------------------------------------------------------------


def test_it_is_a_tracker(env: Env) -> None:
    assert isinstance(env.tracker, Tracker)
    assert env.client.deploymentType == ("Cloud" if env.mode == "cloud" else "Server")
    assert env.client._options["rest_api_version"] == ("3" if env.mode == "cloud" else "2")


def test_search_returns_normalised_issues(env: Env) -> None:
    issues = {i.key: i for i in env.tracker.search('labels = "ready-for-agent" ORDER BY key')}
    assert list(issues) == ["PROJ-1", "PROJ-2"]
    first = issues["PROJ-1"]
    assert first.tracker == "jira" and first.project == "PROJ" and first.title == "Add login endpoint"
    assert first.url == f"{env.standin.base_url}/browse/PROJ-1"
    assert first.priority == "High" and first.status == "To Do" and first.done is False
    assert first.labels == ["ready-for-agent"] and first.components == ["backend"]
    assert first.custom_fields == {"Story Points": 3, "Complexity": "Small"}
    if env.mode == "cloud":
        assert first.description_format == "adf" and json.loads(first.description)["type"] == "doc"
    else:
        assert first.description_format == "wiki" and first.description == READINESS_WIKI
    assert to_markdown(first.description, first.description_format).startswith(SPEC_CHECKLIST + "\n")
    assert first.comments == ["Is the API stable?"]
    assert [(lk.kind, lk.key, lk.done) for lk in first.links] == [("relates_to", "PROJ-4", False)]
    assert [(lk.kind, lk.key, lk.done) for lk in issues["PROJ-2"].links] == [
        ("is_blocked_by", "PROJ-3", True)
    ]
    assert [(lk.kind, lk.key) for lk in env.tracker.get("PROJ-3").links] == [("blocks", "PROJ-2")]


@pytest.mark.parametrize("mode", MODES)
def test_search_pages_through_everything(mode: str) -> None:
    made = make_env(mode, start_jira(mode, seed(mode, extra=250)))
    try:
        keys = [i.key for i in made.tracker.search("labels = bulk ORDER BY key")]
        assert len(keys) == 250 and len(set(keys)) == 250
        path = r"/search\?" if mode == "server" else r"/search/jql\?"
        assert made.count("GET", path) == 3  # 100 a page
    finally:
        made.standin.stop()


def test_get_and_is_done(env: Env) -> None:
    assert env.tracker.get("PROJ-3").done is True
    assert env.tracker.is_done("PROJ-3") is True
    assert env.tracker.is_done("PROJ-1") is False
    env.standin.set_status("PROJ-1", "Done")
    assert env.tracker.is_done("PROJ-1") is True


def test_missing_issue_and_bad_jql_are_tracker_errors(env: Env) -> None:
    with pytest.raises(
        TrackerError, match=r"Jira at http://127\.0\.0\.1:\d+ \(connection 'jira_test'\).*404"
    ):
        env.tracker.get("PROJ-99")
    with pytest.raises(TrackerError) as missing:
        env.tracker.is_done("PROJ-99")
    assert getattr(missing.value.__cause__, "status_code", None) == 404
    assert isinstance(missing.value, TrackerNotFound)  # how intake tells "no such issue", as on GitLab
    with pytest.raises(TrackerConfigError, match="JQL"):
        list(env.tracker.search("assignee = currentUser()"))


# --- comments ------------------------------------------------------------------------------------------


def test_comment_once_posts_once_then_updates_in_place(env: Env) -> None:
    first = env.tracker.comment_once("PROJ-1", MARKER, "## Not ready\n- [ ] Acceptance criteria clear")
    again = env.tracker.comment_once("PROJ-1", MARKER, "## Not ready\n- [ ] Acceptance criteria clear")
    assert first == again and env.count("PUT", "/comment/") == 0  # same body: nothing to change
    edited = env.tracker.comment_once("PROJ-1", MARKER, "## Not ready\n- [x] Acceptance criteria clear")
    assert edited == first and env.count("PUT", "/comment/") == 1
    bodies = env.standin.comment_bodies("PROJ-1")
    assert len(bodies) == 2  # the human's comment and ours
    assert env.count("POST", "/comment$") == 1
    ours = bodies[1]
    if env.mode == "server":  # an invisible {anchor} macro; the marker's ':' '=' ';' are escaped
        assert ours.startswith("h2. Not ready\n* (/) Acceptance criteria clear")
        assert (
            "{anchor:nightshift_3Abatch_3D2024-01-15-overnight_3Bticket_3DPROJ-1_3Bkind_3Dnot-ready}" in ours
        )
        assert MARKER not in ours
    else:  # a small grey subscript paragraph
        marker_node = ours["content"][-1]["content"][0]
        assert (
            marker_node["text"] == MARKER
            and {"type": "subsup", "attrs": {"type": "sub"}} in marker_node["marks"]
        )
    comment = env.tracker.get("PROJ-1").comments[1]
    assert comment == "## Not ready\n- [x] Acceptance criteria clear\n\n" + hidden_marker(MARKER)


def test_different_markers_make_different_comments(env: Env) -> None:
    other = marker_key(batch="2024-01-15-overnight", ticket="PROJ-1", kind="escalation")
    assert env.tracker.comment_once("PROJ-1", MARKER, "a") != env.tracker.comment_once("PROJ-1", other, "b")
    assert len(env.standin.comment_bodies("PROJ-1")) == 3


def test_a_502_after_the_comment_was_created_leaves_one_comment(env: Env) -> None:
    env.standin.inject(Fault("POST", r"/issue/PROJ-2/comment$", "status_after", status=502))
    first = env.tracker.comment_once("PROJ-2", MARKER, "Escalated")  # reconciled: the comment exists
    assert env.tracker.comment_once("PROJ-2", MARKER, "Escalated") == first  # and an Airflow retry finds it
    assert len(env.standin.comment_bodies("PROJ-2")) == 1  # comments per logical operation: 1
    assert env.count("POST", "/comment$") == 1


def test_a_connection_dropped_after_posting_is_not_resent(env: Env) -> None:
    env.standin.inject(Fault("POST", r"/issue/PROJ-2/comment$", "drop_after"))
    comment_id = env.tracker.comment_once("PROJ-2", MARKER, "Escalated")
    assert env.standin.comment_bodies("PROJ-2") and len(env.standin.comment_bodies("PROJ-2")) == 1
    assert env.count("POST", "/comment$") == 1  # the library did not re-send it
    assert comment_id == env.tracker.comment_once("PROJ-2", MARKER, "Escalated")


def test_without_the_guard_the_library_resends_a_dropped_post() -> None:
    """The control for the test above: jira's ResilientSession retries ConnectionError for POST too."""
    standin = start_jira("server", seed("server"))
    try:
        raw = JIRA(standin.base_url, basic_auth=standin.credentials(), max_retries=1, timeout=2)
        raw._session.max_retry_delay = 0.05
        standin.inject(Fault("POST", r"/issue/PROJ-2/comment$", "drop_after"))
        raw.add_comment("PROJ-2", "hello")
        assert len(standin.comment_bodies("PROJ-2")) == 2  # a duplicate comment
    finally:
        standin.stop()


def test_a_request_dropped_before_it_was_handled_is_resent_once(env: Env) -> None:
    """The shared ambiguous-write rule (trackers.writes), as on GitLab: absent after a lost response."""
    env.standin.inject(Fault("POST", r"/issue/PROJ-2/comment$", "drop"))
    env.tracker.comment_once("PROJ-2", MARKER, "Escalated")
    assert len(env.standin.comment_bodies("PROJ-2")) == 1
    assert env.count("POST", "/comment$") == 2  # the lost one, and one re-send after the look-up


def test_a_request_dropped_before_it_was_handled_fails_and_the_retry_posts_once(env: Env) -> None:
    # dropped twice: the first send and the one re-send (a single drop is re-sent, see above)
    env.standin.inject(Fault("POST", r"/issue/PROJ-2/comment$", "drop", times=2))
    with pytest.raises(TrackerError, match="dropped the connection"):
        env.tracker.comment_once("PROJ-2", MARKER, "Escalated")
    assert env.standin.comment_bodies("PROJ-2") == []
    env.tracker.comment_once("PROJ-2", MARKER, "Escalated")  # what Airflow's retry does
    assert len(env.standin.comment_bodies("PROJ-2")) == 1


def test_concurrent_runs_converge_on_one_comment(env: Env) -> None:
    # Posting is slow, so each run reads the comments before the other's comment exists and both post;
    # both then keep the oldest marked comment and delete the other.
    env.standin.inject(Fault("POST", r"/issue/PROJ-2/comment$", "latency", seconds=0.4, times=2))
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(
                make_env(env.mode, env.standin).tracker.comment_once("PROJ-2", MARKER, "Escalated")
            )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors and len(results) == 2 and results[0] == results[1]
    assert env.count("POST", "/issue/PROJ-2/comment$") == 2  # the race happened
    assert len(env.standin.comment_bodies("PROJ-2")) == 1  # notes per (ticket, batch, kind): 1


# --- labels --------------------------------------------------------------------------------------------


def test_ensure_labels(env: Env) -> None:
    env.tracker.ensure_labels("PROJ-1", add=["agent-escalated"], remove=["ready-for-agent"])
    assert env.standin.issue_labels("PROJ-1") == ["agent-escalated"]
    puts = env.count("PUT", r"/issue/PROJ-1$")
    env.tracker.ensure_labels("PROJ-1", add=["agent-escalated"], remove=["ready-for-agent"])
    assert env.count("PUT", r"/issue/PROJ-1$") == puts  # already right: no write
    with pytest.raises(TrackerConfigError):
        env.tracker.ensure_labels("PROJ-1", add=["has space"])


# --- follow-ups ----------------------------------------------------------------------------------------


def followups(env: Env, marker: str) -> list[str]:
    label = followup_label(marker)
    return [key for key in list(env.standin.issues) if label in env.standin.issue_labels(key)]


def test_create_followup_once(env: Env) -> None:
    marker = marker_key(batch="b1", ticket="PROJ-1", kind="followup")
    key = env.tracker.create_followup_once("PROJ-1", marker, "Finish login\nendpoint", "Remaining: **tests**")
    assert key == "PROJ-5"
    assert env.tracker.create_followup_once("PROJ-1", marker, "Finish login endpoint", "Remaining") == key
    assert followups(env, marker) == [key]
    assert env.standin.links_of(key) == [("Relates", "PROJ-1", key)]
    followup = env.tracker.get(key)
    assert followup.title == "Finish login endpoint" and followup.project == "PROJ"
    assert to_markdown(followup.description, followup.description_format).startswith("Remaining: **tests**")
    assert [(lk.kind, lk.key) for lk in followup.links] == [("relates_to", "PROJ-1")]


def test_a_502_after_the_followup_was_created_leaves_one_ticket(env: Env) -> None:
    marker = marker_key(batch="b1", ticket="PROJ-1", kind="followup")
    env.standin.inject(Fault("POST", r"/issue$", "status_after", status=502))
    key = env.tracker.create_followup_once("PROJ-1", marker, "Finish", "Remaining")
    assert env.tracker.create_followup_once("PROJ-1", marker, "Finish", "Remaining") == key
    assert followups(env, marker) == [key]  # tickets per logical operation: 1
    assert env.count("POST", r"/issue$") == 1
    assert env.standin.links_of(key) == [("Relates", "PROJ-1", key)]


def test_a_followup_lost_before_it_was_handled_is_not_resent_on_a_search_look_up(env: Env) -> None:
    """The follow-up look-up reads JQL, a search index that may lag: it proves no absence, so the
    lost create fails the task (whose retry looks again) instead of risking a second ticket."""
    marker = marker_key(batch="b1", ticket="PROJ-1", kind="followup")
    env.standin.inject(Fault("POST", r"/issue$", "drop"))
    with pytest.raises(TrackerError, match="dropped the connection"):
        env.tracker.create_followup_once("PROJ-1", marker, "Finish", "Remaining")
    assert env.count("POST", r"/issue$") == 1 and followups(env, marker) == []
    key = env.tracker.create_followup_once("PROJ-1", marker, "Finish", "Remaining")  # the task retry
    assert followups(env, marker) == [key]


def test_a_502_after_the_link_was_created_leaves_one_link(env: Env) -> None:
    marker = marker_key(batch="b1", ticket="PROJ-1", kind="followup")
    env.standin.inject(Fault("POST", r"/issueLink$", "status_after", status=502))
    key = env.tracker.create_followup_once("PROJ-1", marker, "Finish", "Remaining")
    env.tracker.create_followup_once("PROJ-1", marker, "Finish", "Remaining")
    assert env.standin.links_of(key) == [("Relates", "PROJ-1", key)]  # links per logical operation: 1
    assert env.count("POST", r"/issueLink$") == 1


def test_a_followup_is_found_through_the_original_s_links_when_search_misses_it(env: Env) -> None:
    """Cloud's search index lags writes; the original's links are read directly."""
    marker = marker_key(batch="b1", ticket="PROJ-1", kind="followup")
    key = env.tracker.create_followup_once("PROJ-1", marker, "Finish", "Remaining")
    original_search = env.tracker.search
    env.tracker.search = lambda query: iter(())  # type: ignore[method-assign]  # an index that lags
    try:
        assert env.tracker.create_followup_once("PROJ-1", marker, "Finish", "Remaining") == key
    finally:
        env.tracker.search = original_search  # type: ignore[method-assign]
    assert followups(env, marker) == [key]


# --- transport: rate limits, outages, hangs, credentials -----------------------------------------------


def test_429_with_retry_after_is_waited_and_retried(env: Env) -> None:
    env.standin.inject(Fault("GET", r"/issue/PROJ-1$", "status", status=429, retry_after="1"))
    started = time.monotonic()
    assert env.tracker.get("PROJ-1").key == "PROJ-1"
    elapsed = time.monotonic() - started
    assert env.count("GET", r"/issue/PROJ-1$") == 2
    assert 1.0 <= elapsed < 15.0  # Retry-After honoured (the lower bound); the upper one is generous


def test_429_without_retry_after_backs_off_within_the_cap(env: Env) -> None:
    made = make_env(env.mode, env.standin, max_retry_delay=0.5)
    env.standin.inject(Fault("GET", r"/issue/PROJ-1$", "status", status=429))
    started = time.monotonic()
    assert made.tracker.get("PROJ-1").key == "PROJ-1"
    assert time.monotonic() - started < 10.0  # the library's 20 s back-off, capped at 0.5 s
    assert env.count("GET", r"/issue/PROJ-1$") == 2


def test_429_with_an_http_date_retry_after_does_not_crash_the_library() -> None:
    made = make_env("server")
    try:
        when = email.utils.format_datetime(email.utils.localtime(), usegmt=True)  # "now": wait at least 1 s
        made.standin.inject(Fault("GET", r"/issue/PROJ-1$", "status", status=429, retry_after=when))
        assert made.tracker.get("PROJ-1").key == "PROJ-1"
        assert made.count("GET", r"/issue/PROJ-1$") == 2
    finally:
        made.standin.stop()


def test_endless_429_gives_up_within_budget() -> None:
    made = make_env("server", max_retries=2, max_retry_delay=0.5)
    try:
        made.standin.inject(
            Fault("GET", r"/issue/PROJ-1$", "status", status=429, retry_after="30", times=100)
        )
        started = time.monotonic()
        with pytest.raises(TrackerError, match=r"Jira at .*'jira_test'.*HTTP 429"):
            made.tracker.get("PROJ-1")
        elapsed = time.monotonic() - started
        assert made.count("GET", r"/issue/PROJ-1$") == 3  # 1 + max_retries
        assert elapsed < 15.0  # capped at 2 * 0.5 s; the server's 2 * 30 s would be 60 s
    finally:
        made.standin.stop()


@pytest.mark.reliability
def test_503_fails_clearly_and_503_with_retry_after_is_retried(env: Env, reliability_row) -> None:
    env.standin.inject(Fault("GET", r"/issue/PROJ-1$", "status", status=503))
    with pytest.raises(TrackerError) as outage:
        env.tracker.get("PROJ-1")
    assert f"Jira at {env.standin.base_url} (connection 'jira_test')" in str(outage.value)
    assert "HTTP 503" in str(outage.value) and env.count("GET", r"/issue/PROJ-1$") == 1
    env.standin.inject(Fault("GET", r"/issue/PROJ-1$", "status", status=503, retry_after="1"))
    assert env.tracker.get("PROJ-1").key == "PROJ-1"
    sent = env.count("GET", r"/issue/PROJ-1$")
    reliability_row(
        row="Jira 503",
        injection="503, then 503 with Retry-After",
        figure=f"clear error naming the connection; {sent} requests in all",
        criterion="fails clearly; retried when Retry-After is given",
        passed=sent == 3,
    )
    assert sent == 3


@pytest.mark.reliability
def test_a_hanging_jira_times_out_with_a_clear_error(reliability_row) -> None:
    made = make_env("cloud", timeout=0.5)
    try:
        made.standin.inject(Fault("GET", r"/search/jql$", "latency", seconds=1.0))
        started = time.monotonic()
        with pytest.raises(TrackerError, match=r"Jira at .* did not answer in time while searching"):
            list(made.tracker.search("project = PROJ"))
        waited = time.monotonic() - started
        # The stand-in journals a request once its delay is over: by 3 s it has journaled the first
        # one (1 s) and any retry of it (sent after the 0.5 s timeout), so counting proves no retry.
        time.sleep(max(0.0, started + 3.0 - time.monotonic()))
        sent = made.count("GET", r"/search/jql")
        reliability_row(
            row="Jira hanging",
            injection="1 s latency, 0.5 s timeout",
            figure=f"gave up after {waited:.2f} s, {sent} request(s)",
            criterion="clear error, the timeout not retried",
            passed=sent == 1,
        )
        assert waited < 15.0  # far above the 0.5 s timeout: not a speed check (the count is)
        assert sent == 1  # a read timeout is not retried
    finally:
        made.standin.stop()


def test_a_refused_connection_is_named() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(
        TrackerError, match=rf"Jira at http://127\.0\.0\.1:{port} \(connection 'jira_test'\) could not"
    ):
        make_jira_client(
            f"http://127.0.0.1:{port}",
            token="t",
            connection_id=CONN,
            max_retries=1,
            max_retry_delay=0.2,
            timeout=1,
        )
    assert time.monotonic() - started < 10  # generous; the library's own back-off would take far longer


@pytest.mark.parametrize("mode", MODES)
def test_a_bad_password_names_the_connection(mode: str) -> None:
    standin = start_jira(mode, seed(mode))
    try:
        user, secret = standin.credentials()
        with pytest.raises(TrackerError) as refused:
            make_jira_client(
                standin.base_url, user=user, password="wrong-" + secret, connection_id="jira_default"
            )
        message = str(refused.value)
        assert "(connection 'jira_default') refused the credentials" in message and "HTTP 401" in message
        assert "wrong-" not in message
    finally:
        standin.stop()


def _with_reporter(mode: str) -> Env:
    data = seed(mode)
    data["users"] = [
        default_user().model_dump(),
        {"name": "reporter", "email": "reporter@example.invalid", "password": "pw-r", "api_token": "tok-r"},
    ]
    return make_env(mode, start_jira(mode, data))


@pytest.mark.reliability
@pytest.mark.parametrize("mode", MODES)
def test_a_marker_someone_else_wrote_does_not_count(mode: str, reliability_row) -> None:
    made = _with_reporter(mode)
    try:
        planted = (
            wiki_marker(MARKER)
            if mode == "server"
            else {"type": "doc", "version": 1, "content": [adf_marker(MARKER)]}
        )
        made.standin.add_comment("PROJ-1", planted, author="reporter")
        first = made.tracker.comment_once("PROJ-1", MARKER, "Nightshift's own words")
        again = made.tracker.comment_once("PROJ-1", MARKER, "Nightshift's own words, edited")
        bodies = made.standin.comment_bodies("PROJ-1")
        ours = [b for b in bodies if "Nightshift" in str(b)]
        reliability_row(
            row="Jira marker comments count only when written by the connection's own account",
            injection=f"a reporter's comment holding the marker first ({mode})",
            figure=f"{len(ours)} comment of ours posted, reporter's comment changed: {planted not in bodies}",
            criterion="1, False",
            passed=len(ours) == 1 and planted in bodies,
        )
        assert first == again and len(ours) == 1 and "edited" in str(ours[0])
        assert planted in bodies and len(bodies) == 3  # the seeded one, the reporter's, ours
        assert made.count("DELETE", "/comment/") == 0
    finally:
        made.standin.stop()


@pytest.mark.parametrize("mode", MODES)
def test_a_followup_label_someone_else_applied_does_not_count(mode: str) -> None:
    made = _with_reporter(mode)
    try:
        made.standin.add_issue(
            "Planted", project="PROJ", labels=[followup_label(MARKER)], reporter="reporter"
        )
        followup = made.tracker.create_followup_once("PROJ-1", MARKER, "Follow-up", "body")
        assert followup != "PROJ-5"  # the planted one
        assert made.tracker.create_followup_once("PROJ-1", MARKER, "Follow-up", "body") == followup
    finally:
        made.standin.stop()
