"""The GitLab stand-in runs quick actions the way GitLab does, so an injection test can see them run."""

from __future__ import annotations

from standins.gitlab import extract_quick_actions

P = "group/app"


def test_the_extractor_finds_commands_on_their_own_lines_only():
    text = (
        'Intro /approve mid-line\n/approve\n/LABEL ~a ~"b c"\n  /merge\n> /ready\n/approved\n'
        "```\n/close\n```\n/target_branch main\n/shrug"
    )
    remaining, commands = extract_quick_actions(text)
    assert commands == [
        ("approve", ""),
        ("label", '~a ~"b c"'),
        ("target_branch", "main"),
        ("shrug", ""),
    ]
    assert remaining == "Intro /approve mid-line\n  /merge\n> /ready\n/approved\n```\n/close\n```"


def _draft_mr(gl, description: str = "x"):
    project = gl.projects.get(P)
    project.branches.create({"branch": "agent/P-1", "ref": "main"})
    project.branches.create({"branch": "other", "ref": "main"})
    return project, project.mergerequests.create(
        {
            "source_branch": "agent/P-1",
            "target_branch": "main",
            "title": "Draft: change",
            "description": description,
        }
    )


def test_mr_description_commands_run_as_the_token_user_and_leave_the_text(gitlab_standin, gl):
    body = 'Summary\n/ready\n/approve\n/target_branch other\n/label ~ready-for-agent ~"x y"\n/merge'
    project, mr = _draft_mr(gl, body)
    mr = project.mergerequests.get(mr.iid)
    assert mr.description == "Summary"
    assert not mr.draft and mr.target_branch == "other" and mr.state == "merged"
    assert set(mr.labels) == {"ready-for-agent", "x y"}
    assert project.mergerequests.get(mr.iid).approvals.get().approved
    ran = [(q.name, q.applied, q.user) for q in gitlab_standin.quick_actions]
    assert ran == [
        (n, True, "nightshift-bot") for n in ("ready", "approve", "target_branch", "label", "merge")
    ]


def test_notes_and_description_updates_run_commands_too(gitlab_standin, gl):
    project, mr = _draft_mr(gl)
    mr.notes.create({"body": "looks fine\n/approve"})
    project.mergerequests.update(mr.iid, {"description": "new\n/close"})
    assert project.mergerequests.get(mr.iid).state == "closed"
    issue = project.issues.create({"title": "t", "description": "d\n/label ~ready-for-agent\n/confidential"})
    assert project.issues.get(issue.iid).labels == ["ready-for-agent"]
    issue.notes.create({"body": "/close"})
    assert project.issues.get(issue.iid).state == "closed"
    assert [(q.name, q.applied) for q in gitlab_standin.quick_actions] == [
        ("approve", True),
        ("close", True),
        ("label", True),
        ("confidential", False),  # recognised, not modelled
        ("close", True),
    ]
    assert gitlab_standin.quick_actions[0].where == f"MergeRequest {P}!1 note"


def test_a_draft_mr_is_not_merged_and_escaped_lines_are_text(gitlab_standin, gl):
    project, mr = _draft_mr(gl, "> /merge\n\\/approve\n`/ready`")
    assert gitlab_standin.quick_actions == []
    assert project.mergerequests.get(mr.iid).description == "> /merge\n\\/approve\n`/ready`"
    project.mergerequests.update(mr.iid, {"description": "/merge"})
    assert project.mergerequests.get(mr.iid).state == "opened"
    assert [(q.name, q.applied) for q in gitlab_standin.quick_actions] == [("merge", False)]
