"""The stand-in's CI endpoints the gates use: commit statuses and pipelines a test can script.

Commit statuses are not in the published spec subset, so their fields are pinned here as GitLab's API
documentation gives them (`POST /projects/:id/statuses/:sha`, `GET .../repository/commits/:sha/statuses`).
"""

from __future__ import annotations

import gitlab
import pytest

P = "group/app"
BASE = "/projects/group%2Fapp"


@pytest.fixture
def head(gl: gitlab.Gitlab) -> str:
    project = gl.projects.get(P)
    project.branches.create({"branch": "agent/PROJ-1", "ref": "main"})
    return str(project.branches.get("agent/PROJ-1").commit["id"])


def test_a_commit_status_is_created_listed_and_makes_an_external_pipeline(gitlab_standin, gl, head):
    commit = gl.projects.get(P, lazy=True).commits.get(head, lazy=True)
    created = commit.statuses.create(
        {
            "state": "success",
            "name": "nightshift/gates",
            "target_url": "http://x.test/r",
            "description": "score 95/100",
        }
    )
    assert {
        k: created.attributes[k] for k in ("sha", "ref", "status", "name", "target_url", "description")
    } == {
        "sha": head,
        "ref": "agent/PROJ-1",
        "status": "success",
        "name": "nightshift/gates",
        "target_url": "http://x.test/r",
        "description": "score 95/100",
    }
    assert created.attributes["author"]["username"] == "nightshift-bot" and created.attributes["finished_at"]
    commit.statuses.create({"state": "failed", "name": "nightshift/gates"})
    latest = commit.statuses.list(name="nightshift/gates", get_all=True)
    assert [s.status for s in latest] == ["failed"]  # the latest per name, as GitLab answers without all=true
    every = gl.http_get(f"{BASE}/repository/commits/{head}/statuses", query_data={"all": "true"})
    assert [s["status"] for s in every] == ["success", "failed"]
    pipelines = gl.http_get(f"{BASE}/pipelines", query_data={"sha": head})
    assert [(p["source"], p["status"], p["ref"]) for p in pipelines] == [
        ("external", "failed", "agent/PROJ-1")
    ]


def test_a_running_status_moves_on_and_the_same_state_twice_is_refused(gl, head):
    commit = gl.projects.get(P, lazy=True).commits.get(head, lazy=True)
    commit.statuses.create({"state": "running", "name": "ci"})
    with pytest.raises(gitlab.GitlabCreateError) as refused:
        commit.statuses.create({"state": "running", "name": "ci"}, retry_transient_errors=False)
    assert refused.value.response_code == 400
    commit.statuses.create({"state": "success", "name": "ci"})
    assert [s.status for s in commit.statuses.list(get_all=True)] == ["success"]
    assert len(gl.http_get(f"{BASE}/repository/commits/{head}/statuses", query_data={"all": "true"})) == 1


def test_a_status_for_an_unknown_commit_or_state_is_refused(gitlab_standin, gl, head):
    project = gl.projects.get(P, lazy=True)
    with pytest.raises(gitlab.GitlabCreateError) as unknown:
        project.commits.get("f" * 40, lazy=True).statuses.create({"state": "success"})
    assert unknown.value.response_code == 404
    with pytest.raises(gitlab.GitlabCreateError) as bad:
        project.commits.get(head, lazy=True).statuses.create({"state": "green"})
    assert bad.value.response_code == 400
    reader = gitlab.Gitlab(gitlab_standin.base_url, private_token=gitlab_standin.read_only_token)
    with pytest.raises(gitlab.GitlabCreateError) as forbidden:
        reader.projects.get(P, lazy=True).commits.get(head, lazy=True).statuses.create({"state": "success"})
    assert forbidden.value.response_code == 403


def test_a_scripted_pipeline_moves_one_step_per_read_and_none_means_none(gitlab_standin, gl, head):
    project = gl.projects.get(P, lazy=True)
    assert project.pipelines.list(sha=head, get_all=True) == []  # "no pipeline" is the default
    created = gitlab_standin.script_pipeline(P, head, ["created", "running", "failed"])
    assert created["status"] == "created" and created["ref"] == "agent/PROJ-1"
    seen = [project.pipelines.get(created["id"]).status for _ in range(3)]
    assert seen == ["running", "failed", "failed"]
    detail = project.pipelines.get(created["id"])
    assert detail.started_at and detail.finished_at and detail.source == "push"
    with pytest.raises(ValueError):
        gitlab_standin.script_pipeline(P, head, ["green"])
