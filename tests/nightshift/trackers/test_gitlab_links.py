"""A GitLab search fetches the issues' links in a thread pool: same issues, same links, same errors.

250 ready issues over three list pages, links of every kind spread across the pages (some to closed
issues, some to another project). The sequential fetch (`link_workers=1`) is the reference.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from nightshift.trackers.base import TrackerConfigError, TrackerIssue, TrackerNotFound, TrackerUnavailable
from nightshift.trackers.clients.gitlab import make_gitlab_client
from nightshift.trackers.gitlab import GitLabIssueTracker
from standins.fixtures import running_gitlab
from standins.gitlab import GitLabStandin
from standins.http import Fault

APP, LIB = "group/app", "group/lib"
N = 250
CLOSED = {7, 120, 201}  # closed issues: not in the search, but `done` targets of links
INVERSE = {"relates_to": "relates_to", "blocks": "is_blocked_by", "is_blocked_by": "blocks"}
LINKS_GET = r"/issues/\d+/links$"


def _seed() -> tuple[dict, dict[str, set[tuple[str, str, bool]]]]:
    """The stand-in's seed and, worked out independently of the tracker, each issue's expected links."""
    rng = random.Random(14)
    links: list[dict] = []
    for source in range(2, N + 1):
        if rng.random() < 0.4:
            kind = rng.choice(["is_blocked_by", "blocks", "relates_to"])
            links.append({"source_iid": source, "target_iid": rng.randrange(1, source), "link_type": kind})
    links.append({"source_iid": 180, "target_iid": 1, "target_project": LIB, "link_type": "is_blocked_by"})
    expected: dict[str, set[tuple[str, str, bool]]] = {}
    for link in links:
        source, target = f"{APP}#{link['source_iid']}", f"{link.get('target_project', APP)}#{link['target_iid']}"
        kind = link["link_type"]
        expected.setdefault(source, set()).add((kind, target, link["target_iid"] in CLOSED and target.startswith(APP)))
        expected.setdefault(target, set()).add((INVERSE[kind], source, link["source_iid"] in CLOSED))
    issues = [
        {"title": f"Task {i}", "labels": ["ready-for-agent"], "state": "closed" if i in CLOSED else "opened"}
        for i in range(1, N + 1)
    ]
    seed = {
        "users": [{"username": "nightshift-bot"}],
        "tokens": [{"token": "glpat-links-bot", "user": "nightshift-bot"}],
        "projects": [
            {"path_with_namespace": APP, "issues": issues, "issue_links": links},
            {"path_with_namespace": LIB, "issues": [{"title": "Lib task"}]},
        ],
    }
    return seed, expected


SEED, EXPECTED = _seed()
OPEN_KEYS = [f"{APP}#{i}" for i in range(1, N + 1) if i not in CLOSED]


@pytest.fixture(scope="module")
def server() -> Iterator[GitLabStandin]:
    with running_gitlab(SEED) as standin:
        yield standin


@pytest.fixture(autouse=True)
def _no_faults_left(server: GitLabStandin) -> Iterator[None]:
    yield
    server.clear_faults()


def search(server: GitLabStandin, workers: int) -> Iterator[TrackerIssue]:
    client = make_gitlab_client(server.base_url, "glpat-links-bot", timeout=5, retries=2)
    return GitLabIssueTracker(client, [APP], link_workers=workers).search("ready-for-agent")


def test_concurrent_links_match_the_sequential_fetch_in_order(server: GitLabStandin) -> None:
    before = len(server.requests("GET", LINKS_GET))
    sequential = list(search(server, 1))
    assert len(server.requests("GET", LINKS_GET)) - before == len(OPEN_KEYS)  # one links request per issue
    concurrent = list(search(server, 8))
    assert concurrent == sequential
    assert [issue.key for issue in concurrent] == OPEN_KEYS
    for issue in concurrent:
        found = {(link.kind, link.key, link.done) for link in issue.links}
        assert found == EXPECTED.get(issue.key, set()), issue.key
        assert len(issue.links) == len(found), f"{issue.key}: a link repeated"
    assert sum(len(issue.links) for issue in concurrent) > 100, "links on every page"


@pytest.mark.parametrize("workers", [1, 8])
@pytest.mark.parametrize(("status", "error"), [(404, TrackerNotFound), (502, TrackerUnavailable)])
def test_a_failing_links_request_names_the_issue(server, workers, status, error) -> None:
    server.inject(Fault("GET", r"/issues/137/links$", "status", status=status, times=10))
    seen: list[str] = []
    with pytest.raises(error) as raised:
        for issue in search(server, workers):
            seen.append(issue.key)
    message = str(raised.value)
    assert f"GitLab at {server.base_url}: reading the links of {APP}#137 in {APP} failed ({status})" in message
    assert seen == OPEN_KEYS[: OPEN_KEYS.index(f"{APP}#137")], "the issues before it, in order, then the error"


def test_a_rate_limited_links_request_waits_and_is_retried(server) -> None:
    server.inject(Fault("GET", r"/issues/42/links$", "status", status=429, retry_after="1"))
    issues = {issue.key: issue for issue in search(server, 8)}
    assert [(e.status, e.method) for e in server.requests("GET", r"/issues/42/links$")][-2:] == [
        (429, "GET"),
        (200, "GET"),
    ]
    assert {(link.kind, link.key, link.done) for link in issues[f"{APP}#42"].links} == EXPECTED.get(
        f"{APP}#42", set()
    )


def test_a_caller_that_stops_early_does_not_fetch_every_issue_s_links(server) -> None:
    before = len(server.requests("GET", LINKS_GET))
    results = search(server, 8)
    first = [next(results) for _ in range(3)]
    results.close()  # the queued requests are dropped; the running ones finish
    assert [issue.key for issue in first] == OPEN_KEYS[:3]
    assert len(server.requests("GET", LINKS_GET)) - before < len(OPEN_KEYS)


@pytest.mark.parametrize("workers", [0, 65])
def test_link_workers_out_of_range_is_a_config_error(server, workers) -> None:
    with pytest.raises(TrackerConfigError, match="link_workers"):
        GitLabIssueTracker(make_gitlab_client(server.base_url, "t"), [APP], link_workers=workers)
