"""The transport policy of `make_gitlab_client`: python-gitlab's own retries, bounded, with capped waits."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import gitlab
import pytest
from pydantic import ValidationError

from nightshift.forge.merge_requests import MergeRequestForge
from nightshift.trackers.base import TrackerError
from nightshift.trackers.clients.gitlab import PolicyGitlab, TransportPolicy, make_gitlab_client
from nightshift.trackers.clients.http import retry_after_seconds
from standins.fixtures import running_gitlab
from standins.gitlab import GitLabStandin
from standins.http import Fault

P = "group/app"
PROJECT_GET = r"^/api/v4/projects/group%2Fapp$"
#: Allowance for a loaded test machine on top of the designed waits (which are whole seconds).
SLACK = 15.0  # far above the expected figure: the lower bounds prove the waits, not speed


@pytest.fixture(scope="module")
def server() -> Iterator[GitLabStandin]:
    with running_gitlab() as standin:
        yield standin


@pytest.fixture(autouse=True)
def _clean(server: GitLabStandin) -> Iterator[None]:
    server.clear_faults()
    server.journal.clear()
    yield
    server.clear_faults()


def timed(fn) -> tuple[object, float]:
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start


def test_the_client_is_configured_once():
    client = make_gitlab_client("http://127.0.0.1:9", "glpat-x", timeout=7, retries=4, max_retry_after=9)
    assert isinstance(client, PolicyGitlab) and isinstance(client, gitlab.Gitlab)
    assert client.retry_transient_errors is True and client.timeout == 7
    assert client.policy == TransportPolicy(timeout=7, retries=4, max_retry_after=9)
    with pytest.raises(ValidationError):
        make_gitlab_client("http://127.0.0.1:9", "glpat-x", retries=100)


@pytest.mark.reliability
def test_429_with_retry_after_is_waited(server, reliability_row):
    server.inject(Fault("GET", PROJECT_GET, "status", status=429, retry_after="1"))
    client = make_gitlab_client(server.base_url, server.token, retries=3)
    project, elapsed = timed(lambda: client.projects.get(P))
    assert project.path_with_namespace == P
    assert [e.status for e in server.requests("GET", PROJECT_GET)] == [429, 200]
    reliability_row(row="GitLab 429 with Retry-After", injection="429, Retry-After: 1",
                    figure=f"waited {elapsed:.2f} s", criterion="Retry-After honoured",
                    passed=1.0 <= elapsed < 1.0 + SLACK)
    assert 1.0 <= elapsed < 1.0 + SLACK, f"waited {elapsed:.2f}s for Retry-After: 1"


def test_429_without_retry_after_backs_off_exponentially(server):
    server.inject(Fault("GET", PROJECT_GET, "status", status=429, times=3))
    client = make_gitlab_client(server.base_url, server.token, retries=3)
    _, elapsed = timed(lambda: client.projects.get(P))
    assert len(server.requests("GET", PROJECT_GET)) == 4
    assert 0.7 <= elapsed < 0.7 + SLACK, f"0.1 + 0.2 + 0.4 s of backoff, took {elapsed:.2f}s"


def test_a_huge_retry_after_is_capped(server):
    server.inject(Fault("GET", PROJECT_GET, "status", status=429, retry_after="3600"))
    client = make_gitlab_client(server.base_url, server.token, retries=3, max_retry_after=1)
    _, elapsed = timed(lambda: client.projects.get(P))
    assert 1.0 <= elapsed < 1.0 + SLACK, "waited the cap (1 s), not the hour the server asked for"


@pytest.mark.reliability
def test_endless_429_gives_up_within_the_budget(server, reliability_row):
    server.inject(Fault("GET", r"/merge_requests", "status", status=429, retry_after="1", times=100))
    client = make_gitlab_client(server.base_url, server.token, retries=2, max_retry_after=1)
    forge = MergeRequestForge(client, P, connection_id="gitlab_default")
    start = time.monotonic()
    with pytest.raises(TrackerError, match=r"GitLab at .*'gitlab_default'.*failed \(429\)"):
        forge.find_open_mr("agent/PROJ-1")
    elapsed = time.monotonic() - start
    assert len(server.requests("GET", r"/merge_requests")) == 3, "1 attempt + 2 retries, then give up"
    budget = client.policy.worst_case_wait()
    assert budget == 2.0
    reliability_row(row="GitLab 429 without end", injection="100 x 429",
                    figure=f"3 attempts, gave up after {elapsed:.2f} s", criterion=f"bounded, within {budget} s budget",
                    passed=2.0 <= elapsed <= budget + SLACK)
    assert 2.0 <= elapsed <= budget + SLACK, f"gave up after {elapsed:.2f}s (budget {budget}s)"


def test_transient_5xx_on_a_read_is_retried(server):
    server.inject(Fault("GET", PROJECT_GET, "status", status=502, times=2))
    client = make_gitlab_client(server.base_url, server.token, retries=3)
    assert client.projects.get(P).id
    assert [e.status for e in server.requests("GET", PROJECT_GET)] == [502, 502, 200]


def test_a_hanging_server_times_out_within_the_budget():
    with running_gitlab() as hanging:  # its own server: stopping it wakes the sleeping handlers
        hanging.inject(Fault("GET", r"/merge_requests", "latency", seconds=1.5, times=2))
        client = make_gitlab_client(hanging.base_url, hanging.token, timeout=0.3, retries=1)
        forge = MergeRequestForge(client, P, connection_id="gitlab_default")
        start = time.monotonic()
        with pytest.raises(TrackerError, match=r"GitLab at .*'gitlab_default'.*Timeout"):
            forge.find_open_mr("agent/PROJ-1")
        elapsed = time.monotonic() - start
        assert hanging.requests("GET", r"/merge_requests") == [], "neither attempt was answered"
    assert 0.6 <= elapsed <= client.policy.worst_case_duration() + SLACK, f"{elapsed:.2f}s"


def test_retry_after_parsing():
    now = dt.datetime(2024, 1, 15, 18, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("7", now=now) == 7
    assert retry_after_seconds("Mon, 15 Jan 2024 18:00:30 GMT", now=now) == 30
    assert retry_after_seconds("Mon, 15 Jan 2024 17:00:00 GMT", now=now) == 0  # in the past
    assert retry_after_seconds(None, str(int(now.timestamp()) + 12), now=now) == 12
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None, None, now=now) is None


def test_worst_case_wait_is_bounded():
    policy = TransportPolicy(retries=5, max_retry_after=60)
    assert policy.worst_case_wait() == 300.0
    assert TransportPolicy(retries=0).worst_case_wait() == 0
    assert TransportPolicy(retries=3, max_retry_after=0).worst_case_wait() == pytest.approx(0.7)
