"""The GitLab stand-in answers real python-gitlab the way GitLab does (auth, MRs, notes, issues, CI)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import gitlab
import pytest
import requests
from pydantic import ValidationError

from standins.fixtures import running_gitlab
from standins.gitlab import GitLabStandin

P = "group/app"


def api(server, path: str, method: str = "GET", token: str | None = "default", **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if token == "default":
        token = server.token
    if token is not None:
        headers["PRIVATE-TOKEN"] = token
    return requests.request(method, f"{server.base_url}/api/v4{path}", headers=headers, timeout=10, **kwargs)


def new_branch(project, name: str = "agent/PROJ-1") -> None:
    project.branches.create({"branch": name, "ref": "main"})


# --- authentication ---------------------------------------------------------------------------------
def test_no_token_and_unknown_token_are_401(gitlab_standin):
    assert api(gitlab_standin, "/projects/1", token=None).status_code == 401
    assert api(gitlab_standin, "/projects/1", token="glpat-not-a-real-token").status_code == 401
    with pytest.raises(gitlab.GitlabAuthenticationError):
        gitlab.Gitlab(gitlab_standin.base_url, private_token="glpat-wrong-token").projects.get(P)


def test_bearer_token_is_accepted(gitlab_standin):
    resp = api(gitlab_standin, "/user", token=None, headers={"Authorization": f"Bearer {gitlab_standin.token}"})
    assert resp.status_code == 200
    assert resp.json()["username"] == "nightshift-bot"


def test_read_only_token_reads_but_cannot_write(gitlab_standin):
    ro = gitlab.Gitlab(gitlab_standin.base_url, private_token=gitlab_standin.read_only_token)
    project = ro.projects.get(P)
    assert project.path_with_namespace == P
    with pytest.raises(gitlab.GitlabCreateError) as err:
        project.issues.create({"title": "nope"})
    assert err.value.response_code == 403
    assert gitlab_standin.issues(P) == []


# --- projects and branches -----------------------------------------------------------------------------
def test_project_by_numeric_id_and_encoded_path(gitlab_standin):
    by_path = api(gitlab_standin, "/projects/group%2Fapp").json()
    by_id = api(gitlab_standin, f"/projects/{by_path['id']}").json()
    assert (by_id["id"], by_id["path_with_namespace"]) == (by_path["id"], "group/app")
    assert by_path["http_url_to_repo"] == f"{gitlab_standin.base_url}/group/app.git"
    assert by_path["default_branch"] == "main"
    assert api(gitlab_standin, "/projects/group%2Fmissing").status_code == 404


def test_branch_names_with_slashes_route_on_the_raw_path(gitlab_standin, gl):
    project = gl.projects.get(P)
    new_branch(project)
    raw = api(gitlab_standin, "/projects/group%2Fapp/repository/branches/agent%2FPROJ-1")
    assert raw.status_code == 200
    assert raw.json()["name"] == "agent/PROJ-1"
    assert raw.json()["commit"]["id"] == project.branches.get("main").commit["id"]
    assert {b.name for b in project.branches.list(get_all=True)} == {"main", "agent/PROJ-1"}
    with pytest.raises(gitlab.GitlabCreateError):
        new_branch(project)  # exists already
    with pytest.raises(gitlab.GitlabGetError):
        project.branches.get("agent/missing")


# --- merge requests --------------------------------------------------------------------------------
def test_merge_request_create_draft_and_409_for_a_second_open_mr(gl):
    project = gl.projects.get(P)
    new_branch(project)
    mr = project.mergerequests.create(
        {"source_branch": "agent/PROJ-1", "target_branch": "main", "title": "Draft: feat", "labels": ["a", "b"]}
    )
    assert (mr.iid, mr.draft, mr.work_in_progress, mr.labels, mr.state) == (1, True, True, ["a", "b"], "opened")
    assert mr.sha == project.branches.get("agent/PROJ-1").commit["id"]
    assert mr.web_url.endswith("/group/app/-/merge_requests/1")
    with pytest.raises(gitlab.GitlabCreateError) as err:
        project.mergerequests.create({"source_branch": "agent/PROJ-1", "target_branch": "main", "title": "again"})
    assert err.value.response_code == 409
    assert err.value.error_message == ["Another open merge request already exists for this source branch: !1"]


def test_merge_request_for_a_missing_branch_is_refused(gl):
    with pytest.raises(gitlab.GitlabCreateError) as err:
        gl.projects.get(P).mergerequests.create({"source_branch": "nope", "target_branch": "main", "title": "x"})
    assert err.value.response_code == 422


def test_merge_request_list_filters_and_update(gl):
    project = gl.projects.get(P)
    for n in (1, 2):
        new_branch(project, f"agent/PROJ-{n}")
        project.mergerequests.create(
            {"source_branch": f"agent/PROJ-{n}", "target_branch": "main", "title": f"t{n}", "labels": [f"l{n}"]}
        )
    assert [m.iid for m in project.mergerequests.list(source_branch="agent/PROJ-2", get_all=True)] == [2]
    assert [m.iid for m in project.mergerequests.list(labels="l1", get_all=True)] == [1]
    project.mergerequests.update(1, {"title": "Draft: t1", "description": "d", "add_labels": "x"})
    mr = project.mergerequests.get(1)
    assert (mr.title, mr.draft, mr.description, mr.labels) == ("Draft: t1", True, "d", ["l1", "x"])
    project.mergerequests.update(1, {"state_event": "close"})
    assert [m.iid for m in project.mergerequests.list(state="opened", get_all=True)] == [2]
    assert project.mergerequests.get(1).closed_at is not None


def test_merge_request_notes_create_list_update(gl):
    project = gl.projects.get(P)
    new_branch(project)
    mr = project.mergerequests.create({"source_branch": "agent/PROJ-1", "target_branch": "main", "title": "t"})
    note = mr.notes.create({"body": "hello <!-- m -->"})
    assert (note.body, note.system, note.noteable_type, note.noteable_iid) == ("hello <!-- m -->", False,
                                                                              "MergeRequest", mr.iid)
    note.body = "edited"
    note.save()
    assert [n.body for n in mr.notes.list(get_all=True)] == ["edited"]
    assert project.mergerequests.get(mr.iid).user_notes_count == 1


TWO_WRITERS = {
    "users": [{"username": "bot"}, {"username": "someone"}],
    "tokens": [{"token": "glpat-bot-token", "user": "bot"}, {"token": "glpat-someone-token", "user": "someone"}],
    "projects": [{"path_with_namespace": P}],
}


def test_only_the_author_may_edit_a_note():
    with running_gitlab(TWO_WRITERS) as server:
        bot = gitlab.Gitlab(server.base_url, private_token="glpat-bot-token")
        other = gitlab.Gitlab(server.base_url, private_token="glpat-someone-token")
        issue = bot.projects.get(P).issues.create({"title": "t"})
        note = issue.notes.create({"body": "mine"})
        with pytest.raises(gitlab.GitlabUpdateError) as err:
            other.projects.get(P, lazy=True).issues.get(issue.iid, lazy=True).notes.update(note.id, {"body": "x"})
        assert err.value.response_code == 403
        assert server.notes(P, issue_iid=issue.iid) == ["mine"]


def test_labels_create_and_409_when_it_exists(gl):
    project = gl.projects.get(P)
    label = project.labels.create({"name": "nightshift", "color": "#123456"})
    assert (label.name, label.color) == ("nightshift", "#123456")
    with pytest.raises(gitlab.GitlabCreateError) as err:
        project.labels.create({"name": "nightshift", "color": "#123456"})
    assert err.value.response_code == 409
    assert "nightshift" in {lb.name for lb in project.labels.list(get_all=True)}


# --- issues ---------------------------------------------------------------------------------------
def test_issue_pagination_headers_and_get_all(gitlab_standin, gl):
    for n in range(45):
        gitlab_standin.add_issue(P, f"issue {n}", labels=["ready-for-agent"] if n % 3 else ["other"])
    resp = api(gitlab_standin, "/projects/group%2Fapp/issues?labels=ready-for-agent&per_page=10&page=2")
    assert resp.headers["X-Total"] == "30"
    assert resp.headers["X-Total-Pages"] == "3"
    assert (resp.headers["X-Page"], resp.headers["X-Next-Page"], resp.headers["X-Prev-Page"]) == ("2", "3", "1")
    assert 'rel="next"' in resp.headers["Link"] and "page=3" in resp.headers["Link"]
    assert len(resp.json()) == 10
    last = api(gitlab_standin, "/projects/group%2Fapp/issues?labels=ready-for-agent&per_page=10&page=3")
    assert last.headers["X-Next-Page"] == "" and 'rel="next"' not in last.headers["Link"]
    everything = gl.projects.get(P).issues.list(labels=["ready-for-agent"], per_page=10, get_all=True)
    assert len(everything) == 30 and len({i.iid for i in everything}) == 30


def test_issue_filters_update_and_notes(gitlab_standin, gl):
    project = gl.projects.get(P)
    a = project.issues.create({"title": "a", "labels": "x,y", "description": "see <!-- marker-1 -->"})
    project.issues.create({"title": "b", "labels": ["y"]})
    assert [i.iid for i in project.issues.list(labels="x,y", get_all=True)] == [a.iid]
    assert [i.iid for i in project.issues.list(search="marker-1", get_all=True, **{"in": "description"})] == [a.iid]
    project.issues.update(a.iid, {"add_labels": "z", "remove_labels": "x"})
    assert project.issues.get(a.iid).labels == ["y", "z"]
    project.issues.update(a.iid, {"state_event": "close"})
    assert [i.iid for i in project.issues.list(state="closed", get_all=True)] == [a.iid]
    note = project.issues.get(a.iid, lazy=True).notes.create({"body": "c1"})
    assert note.noteable_type == "Issue"
    assert gitlab_standin.notes(P, issue_iid=a.iid) == ["c1"]


def test_issue_links_are_visible_from_both_sides(gl):
    project = gl.projects.get(P)
    a, b, c = (project.issues.create({"title": t}) for t in "abc")
    source, target = a.links.create({"target_project_id": project.id, "target_issue_iid": b.iid,
                                     "link_type": "blocks"})
    assert (source.iid, target.iid) == (a.iid, b.iid)
    a.links.create({"target_project_id": "group/app", "target_issue_iid": c.iid})
    assert sorted((i.iid, i.link_type) for i in a.links.list()) == [(b.iid, "blocks"), (c.iid, "relates_to")]
    assert [(i.iid, i.link_type) for i in b.links.list()] == [(a.iid, "is_blocked_by")]
    # As on GitLab, blocking_issues_count counts the open issues an issue blocks, not its blockers.
    assert [project.issues.get(i.iid).blocking_issues_count for i in (a, b)] == [1, 0]
    project.issues.update(b.iid, {"state_event": "close"})
    assert project.issues.get(a.iid).blocking_issues_count == 0
    with pytest.raises(gitlab.GitlabCreateError) as err:
        b.links.create({"target_project_id": project.id, "target_issue_iid": a.iid})
    assert err.value.response_code == 409


# --- CI, approvals, merge -------------------------------------------------------------------------
def test_pipelines_by_sha_ref_and_merge_request(gitlab_standin, gl):
    project = gl.projects.get(P)
    new_branch(project)
    mr = project.mergerequests.create({"source_branch": "agent/PROJ-1", "target_branch": "main", "title": "t"})
    assert project.pipelines.list(sha=mr.sha) == []
    created = gitlab_standin.set_pipeline_status(P, mr.sha, "running")
    assert created["ref"] == "agent/PROJ-1"  # main has the same head; a pipeline runs for the pushed branch
    gitlab_standin.set_pipeline_status(P, mr.sha, "success")
    listed = project.pipelines.list(sha=mr.sha, get_all=True)
    assert [(p.id, p.status) for p in listed] == [(created["id"], "success")]
    assert project.pipelines.get(created["id"]).finished_at is not None
    assert [p.id for p in mr.pipelines.list()] == [created["id"]]
    assert project.mergerequests.get(mr.iid).head_pipeline["status"] == "success"
    with pytest.raises(ValueError):
        gitlab_standin.set_pipeline_status(P, mr.sha, "green")


def test_approve_and_merge_helpers(gitlab_standin, gl):
    project = gl.projects.get(P)
    new_branch(project)
    mr = project.mergerequests.create({"source_branch": "agent/PROJ-1", "target_branch": "main", "title": "t"})
    assert mr.approvals.get().approved_by == []
    gitlab_standin.approve(P, mr.iid, "reviewer")
    approvals = mr.approvals.get()
    assert approvals.approved is True
    assert [a["user"]["username"] for a in approvals.approved_by] == ["reviewer"]
    gitlab_standin.merge(P, mr.iid, "reviewer")
    merged = project.mergerequests.get(mr.iid)
    assert merged.state == "merged" and merged.merged_at and merged.merged_by["username"] == "reviewer"


# --- web pages ----------------------------------------------------------------------------------
def test_web_pages_escape_html(gitlab_standin, gl):
    project = gl.projects.get(P)
    new_branch(project)
    mr = project.mergerequests.create({"source_branch": "agent/PROJ-1", "target_branch": "main",
                                       "title": "<script>alert(1)</script>", "description": "<b>x</b>"})
    issue = project.issues.create({"title": "t", "description": "<img src=x onerror=alert(1)>"})
    page = requests.get(mr.web_url, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>" not in page.text
    assert "&lt;b&gt;x&lt;/b&gt;" in page.text
    issue_page = requests.get(issue.web_url, timeout=10).text
    assert "&lt;img src=x onerror=alert(1)&gt;" in issue_page and "<img" not in issue_page


# --- seeding and the CLI --------------------------------------------------------------------------
def test_seed_is_validated_and_applied(tmp_path):
    seed = {
        "users": [{"username": "bot"}],
        "tokens": [{"token": "glpat-seeded-token", "user": "bot"}],
        "projects": [{"path_with_namespace": "team/svc", "labels": [{"name": "ready-for-agent"}],
                      "issues": [{"title": "one", "labels": ["ready-for-agent"]}, {"title": "two"}],
                      "issue_links": [{"source_iid": 2, "target_iid": 1, "link_type": "is_blocked_by"}]}],
    }
    with running_gitlab(seed, tmp_path / "state") as server:
        assert server.token == "glpat-seeded-token"
        assert (tmp_path / "state" / "repositories" / "team" / "svc.git" / "HEAD").is_file()
        project = gitlab.Gitlab(server.base_url, private_token=server.token).projects.get("team/svc")
        assert [(i.iid, i.link_type) for i in project.issues.get(2).links.list()] == [(1, "is_blocked_by")]
    with pytest.raises(ValidationError):
        GitLabStandin({"projects": [{"path_with_namespace": "../escape"}]})


def test_cli_prints_one_json_line_and_stops_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "standins.cli", "--no-jira"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        gitlab_info = info["gitlab"]
        resp = requests.get(f"{gitlab_info['url']}/api/v4/projects/group%2Fapp",
                            headers={"PRIVATE-TOKEN": gitlab_info["token"]}, timeout=10)
        assert resp.status_code == 200
        assert gitlab_info["projects"] == ["group/app"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
