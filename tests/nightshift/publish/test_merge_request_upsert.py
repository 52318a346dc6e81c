"""Re-publishing an MR sends nothing that has not changed: GitLab re-reads every description it is sent
for quick actions, so a blind re-send would re-run whatever commands slipped into it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nightshift.forge.merge_requests import MergeRequestForge
from nightshift.trackers.clients.gitlab import make_gitlab_client
from standins.fixtures import running_gitlab
from standins.gitlab import GitLabStandin

P = "group/app"
BRANCH = "agent/PROJ-1"


@pytest.fixture
def forge() -> Iterator[tuple[GitLabStandin, MergeRequestForge]]:
    with running_gitlab() as standin:
        client = make_gitlab_client(standin.base_url, standin.token, timeout=5, retries=2)
        client.projects.get(P, lazy=True).branches.create({"branch": BRANCH, "ref": "main"})
        yield standin, MergeRequestForge(client, P)


@pytest.mark.parametrize("ending", ["", "\n", "\r\n\r\n  "])
def test_an_unchanged_mr_is_not_sent_again(forge, ending):
    standin, mrs = forge
    description = "Summary\r\nline two" + ending
    first = mrs.upsert_draft_mr(BRANCH, "main", "PROJ-1: title", description, ["nightshift", "n::complete"])
    for _ in range(3):
        again = mrs.upsert_draft_mr(BRANCH, "main", "PROJ-1: title", description, ["n::complete"])
        assert again.iid == first.iid
    assert len(standin.requests("POST", r"/merge_requests$")) == 1
    assert standin.requests("PUT", r"/merge_requests/\d+$") == []


def test_only_what_changed_is_sent(forge):
    standin, mrs = forge
    mrs.upsert_draft_mr(BRANCH, "main", "PROJ-1: title", "one", ["nightshift"])
    mrs.upsert_draft_mr(BRANCH, "main", "PROJ-1: title", "two", ["nightshift", "extra"])
    [put] = standin.requests("PUT", r"/merge_requests/\d+$")
    assert b'"description": "two"' in put.body and b"title" not in put.body
    assert b'"add_labels": "extra"' in put.body
