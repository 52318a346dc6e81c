"""Publishing a gate report with the real python-gitlab client against the GitLab stand-in: one note per
MR per batch (edited on a re-run), the score label replaced, the security label, the commit status."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nightshift.forge.gate_publish import (
    SECURITY_LABEL,
    STATUS_NAME,
    GateForge,
    GateLinks,
    defuse_quick_actions,
    render_note,
    status_state,
)
from nightshift.gates.report import CheckResult, Flag, GateReport, ScoreLine
from nightshift.trackers.base import hidden_marker, marker_key
from nightshift.trackers.clients.gitlab import make_gitlab_client
from standins.fixtures import running_gitlab
from standins.gitlab import GitLabStandin
from standins.http import Fault

P = "group/app"
BRANCH = "agent/PROJ-1"
KEY = marker_key(batch="2024-01-15-overnight", ticket="PROJ-1", kind="gates")
NOTE_POST = r"/merge_requests/\d+/notes$"
STATUS_POST = r"/statuses/[0-9a-f]{40}$"
LINKS = GateLinks(
    review_page="http://airflow.test/nightshift/batches/b#ticket-PROJ-1",
    ticket="http://tracker.test/PROJ-1",
    task_logs={"Generation": "http://airflow.test/dags/d/runs/r/tasks/ticket/mapped/0"},
)


@pytest.fixture
def mr() -> Iterator[tuple[GitLabStandin, int, str]]:
    with running_gitlab() as server:
        project = make_gitlab_client(server.base_url, server.token).projects.get(P)
        project.branches.create({"branch": BRANCH, "ref": "main"})
        created = project.mergerequests.create(
            {
                "source_branch": BRANCH,
                "target_branch": "main",
                "title": "Draft: PROJ-1",
                "labels": ["nightshift"],
            }
        )
        yield server, created.iid, created.sha


def forge_for(server: GitLabStandin) -> GateForge:
    return GateForge(make_gitlab_client(server.base_url, server.token, timeout=5, retries=3), P)


def a_report(sha: str, score: int = 95, flags: list[Flag] | None = None, summary: str = "") -> GateReport:
    return GateReport(
        base="0" * 40,
        head=sha,
        score=score,
        checks=[
            CheckResult(name="tests", status="passed", reason="12 passed"),
            CheckResult(name="pipeline", status="not_run", reason="no pipeline for the MR head"),
        ],
        breakdown=[ScoreLine(check="tests", weight=40, earned=40)],
        checks_counted=1,
        flags=flags or [],
        summary_markdown=summary,
    )


def publish(server: GateForge, iid: int, report: GateReport):
    return server.publish(
        report,
        mr_iid=iid,
        marker_key=KEY,
        note=render_note(report, LINKS, "b"),
        state=status_state(report, 70),
        target_url=LINKS.review_page,
    )


def test_publish_once_then_a_repeat_changes_nothing(mr):
    server, iid, sha = mr
    forge = forge_for(server)
    first = publish(forge, iid, a_report(sha))
    assert first.labels == ["nightshift", "nightshift-score::high"] and first.status_state == "success"
    assert first.status_posted
    writes = len(server.requests("POST")) + len(server.requests("PUT"))
    again = publish(forge, iid, a_report(sha))
    assert again.note_id == first.note_id and not again.status_posted
    assert len(server.requests("POST")) + len(server.requests("PUT")) == writes, "a repeat writes nothing"
    notes = server.notes(P, mr_iid=iid)
    assert len(notes) == 1 and notes[0].endswith(hidden_marker(KEY))
    statuses = server.commit_statuses(P, sha)
    assert [(s["name"], s["status"], s["target_url"]) for s in statuses] == [
        (STATUS_NAME, "success", LINKS.review_page)
    ]


def test_a_rerun_edits_the_note_replaces_the_score_label_and_posts_the_new_status(mr):
    server, iid, sha = mr
    forge = forge_for(server)
    first = publish(forge, iid, a_report(sha))
    worse = a_report(
        sha,
        score=40,
        flags=[
            Flag(
                kind="security",
                file="src/app.py",
                line=3,
                rule="B602",
                message="subprocess call with shell=True",
            )
        ],
    )
    second = publish(forge, iid, worse)
    assert second.note_id == first.note_id
    labels = server.merge_requests(P)[0]["labels"]
    assert sorted(labels) == sorted(["nightshift", "nightshift-score::low", SECURITY_LABEL])
    notes = server.notes(P, mr_iid=iid)
    assert len(notes) == 1 and "score 40/100 (low)" in notes[0] and "`src/app.py:3`" in notes[0]
    assert [s["status"] for s in server.commit_statuses(P, sha)] == ["success", "failed"]
    # back to a clean report: the security label goes, the score label is replaced again
    publish(forge, iid, a_report(sha))
    assert sorted(server.merge_requests(P)[0]["labels"]) == ["nightshift", "nightshift-score::high"]


@pytest.mark.reliability
@pytest.mark.parametrize(("what", "path"), [("note", NOTE_POST), ("commit status", STATUS_POST)])
def test_502_after_the_gate_write_was_created_leaves_one(mr, reliability_row, what, path):
    server, iid, sha = mr
    server.inject(Fault("POST", path, "status_after", status=502))
    publish(forge_for(server), iid, a_report(sha))
    created = len(server.notes(P, mr_iid=iid)) if what == "note" else len(server.commit_statuses(P, sha))
    reliability_row(
        row="GitLab answers 502 after creating an object (gates: score " + what + ")",
        injection=f"502 after the {what} POST was handled",
        figure=f"{created} objects created per logical operation",
        criterion="1",
        passed=created == 1,
    )
    assert created == 1


def test_pipelines_leave_out_the_external_one_our_status_creates(mr):
    server, iid, sha = mr
    forge = forge_for(server)
    publish(forge, iid, a_report(sha))
    assert forge.pipeline_statuses(iid) == []  # only the external pipeline of our own status exists


def test_a_scripted_mr_pipeline_moves_on_with_each_read(mr):
    server, iid, sha = mr
    server.script_pipeline(P, sha, ["created", "running", "success"], ref=BRANCH)
    forge = forge_for(server)
    assert [forge.pipeline_statuses(iid)[0]["status"] for _ in range(3)] == ["running", "success", "success"]
    publish(forge, iid, a_report(sha))  # attaches to the CI pipeline: no external one appears
    assert [p["status"] for p in forge.pipeline_statuses(iid)] == ["success"]


def test_without_a_summary_the_note_shows_breakdown_flags_and_links():
    report = a_report("a" * 40, flags=[Flag(kind="lint", file="x.py", line=2, message="F401 unused")])
    note = render_note(report, LINKS, "2024-01-15-overnight")
    assert "| tests | passed | 40 | 40 |" in note and "| pipeline | not_run | - | - | no pipeline" in note
    assert "**lint** `x.py:2`: F401 unused" in note
    assert "[Review page](http://airflow.test/nightshift/batches/b#ticket-PROJ-1)" in note
    assert "[Generation](http://airflow.test/" in note and "[Ticket](http://tracker.test/PROJ-1)" in note


def test_the_core_summary_is_the_note_with_quick_actions_defused():
    report = a_report("a" * 40, summary="## Nightshift gates\nGoal: add login\n/merge\n  /approve")
    note = render_note(report, LINKS, "2024-01-15-overnight")
    assert note.startswith("## Nightshift gates\nGoal: add login")
    assert note.endswith("Nightshift batch `2024-01-15-overnight`, head `aaaaaaaaaaaa`.")
    assert "| check |" not in note, "the summary already carries the breakdown"
    assert not any(line.lstrip().startswith("/") for line in note.splitlines())
    assert defuse_quick_actions("ok\n  /close") == "ok\n  \\/close"


def test_status_fails_below_the_pass_score_or_with_a_security_flag():
    assert status_state(a_report("a" * 40, score=70), 70) == "success"
    assert status_state(a_report("a" * 40, score=69), 70) == "failed"
    assert status_state(a_report("a" * 40, score=99, flags=[Flag(kind="secret")]), 70) == "failed"


@pytest.mark.reliability
def test_quick_actions_in_the_summary_execute_nothing_on_gitlab(mr, reliability_row):
    """Attack: agent-derived lines reach the note; the stand-in runs quick actions as GitLab does."""
    server, iid, sha = mr
    summary = "## Nightshift gates\n/merge\n  /label ~nightshift-score::high\n/approve"
    publish(forge_for(server), iid, a_report(sha, score=30, summary=summary))
    mr_now = server.merge_requests(P)[0]
    reliability_row(
        row="Quick-action lines in the gates' score note",
        injection="/merge, /label ~nightshift-score::high, /approve lines in the review summary",
        figure=f"{len(server.quick_actions)} quick actions executed",
        criterion="0",
        passed=not server.quick_actions,
    )
    assert server.quick_actions == []
    assert mr_now["state"] == "opened" and "nightshift-score::high" not in mr_now["labels"]
