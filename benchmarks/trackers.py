"""Paging through 1,000 issues through the real clients (python-gitlab, jira) against the stand-ins.

Target: at least 100 issues/s, so a 1,000-issue backlog is collected in under 10 s over loopback.
The stand-ins answer instantly, so this measures Nightshift's and the client libraries' own cost
(requests made, JSON decoded, descriptions converted to markdown), which a real server only adds to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from benchmarks._harness import Case, Result, Settings, check, count, median_time, seconds
from nightshift.trackers.base import Tracker
from nightshift.trackers.clients.gitlab import make_gitlab_client
from nightshift.trackers.clients.jira import make_jira_client
from nightshift.trackers.gitlab import GitLabIssueTracker
from nightshift.trackers.jira import JiraTracker
from standins.fixtures import start_gitlab
from standins.http import StandinServer
from standins.jira import READINESS_WIKI, readiness_adf, start_jira

MIN_RATE = 100.0  # issues/s

GITLAB_BODY = """## Agent Readiness
- [x] Acceptance criteria clear
- [x] No open questions
- [x] Dependencies: None
- [x] Estimated files: src/app.py, tests/test_app.py
- [x] Complexity: Small

Make the greeting configurable.
"""


def _page_through(
    name: str, server: StandinServer, tracker: Tracker, query: str, n: int, settings: Settings
) -> Result:
    """Time whole searches (each from a cold tracker's point of view: first page to last)."""

    def search() -> int:
        return sum(1 for _ in tracker.search(query))

    before = len(server.journal)
    timing = median_time(search, settings.repeats(3, 1), budget=4)
    requests = (len(server.journal) - before) // timing.runs
    check(timing.value == n, f"found {timing.value} of {n} issues")
    rate = n / timing.seconds
    return Result(
        name,
        f"{count(n)} issues in {seconds(timing.seconds)} ({timing.how}), {rate:,.0f} issues/s, "
        f"{count(requests)} requests",
        f">= {MIN_RATE:.0f} issues/s",
        rate >= MIN_RATE,
    )


def bench_gitlab(settings: Settings) -> Iterator[Result]:
    n = settings.size(1000, 100)
    seed: dict[str, Any] = {
        "users": [{"username": "nightshift-bot", "name": "Nightshift Bot"}],
        "projects": [{"path_with_namespace": "group/app"}],
    }
    server = start_gitlab(seed)
    try:
        for i in range(n):
            labels = ["ready-for-agent", "priority::high"]
            server.add_issue("group/app", f"Make greeting {i} configurable", GITLAB_BODY, labels=labels)
        client = make_gitlab_client(server.base_url, server.token, timeout=10, retries=1)
        tracker = GitLabIssueTracker(client, ["group/app"])
        yield _page_through("trackers.gitlab", server, tracker, "ready-for-agent", n, settings)
    finally:
        server.stop()


def _bench_jira(mode: str) -> Callable[[Settings], Iterator[Result]]:
    def run(settings: Settings) -> Iterator[Result]:
        n = settings.size(1000, 100)
        description: Any = readiness_adf() if mode == "cloud" else READINESS_WIKI
        server = start_jira(mode, {"projects": [{"key": "PROJ", "name": "Project"}], "issues": []})  # type: ignore[arg-type]
        try:
            for i in range(1, n + 1):
                server.add_issue(
                    f"Add endpoint {i}",
                    key=f"PROJ-{i}",
                    description=description,
                    labels=["ready-for-agent"],
                    priority="High",
                )
            user, secret = server.credentials()
            client = make_jira_client(server.base_url, user=user, password=secret, timeout=10, max_retries=1)
            tracker = JiraTracker(client)
            query = 'labels = "ready-for-agent" AND statusCategory != Done ORDER BY priority DESC, key ASC'
            yield _page_through(f"trackers.jira-{mode}", server, tracker, query, n, settings)
        finally:
            server.stop()

    return run


CASES = [
    Case("trackers.gitlab", bench_gitlab),
    Case("trackers.jira-server", _bench_jira("server")),
    Case("trackers.jira-cloud", _bench_jira("cloud")),
]
