"""The gates stage's steps against real git (a branch pushed to the GitLab stand-in over HTTP), the real
WorkspaceManager and the real python-gitlab client; the gates core is a small stand-in function here
that reports what it saw (the real checks are tested with the core)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nightshift.agents.workspace import WorkspaceManager
from nightshift.artifacts import ArtifactStore
from nightshift.forge.gate_publish import STATUS_NAME, GateForge
from nightshift.gates import stage
from nightshift.gates.config import GatesConfig
from nightshift.gates.report import CheckResult, Flag, GateReport, ScoreLine
from nightshift.gates.stage import GateContext, GateInputs
from nightshift.generation.flow import Repository
from nightshift.generation.state import BatchState, PushRecord, TicketOutcome
from nightshift.intake.records import IntakeRecord
from nightshift.manifest import parse_manifest
from nightshift.models import Ticket, TicketState
from nightshift.trackers.clients.gitlab import make_gitlab_client
from standins.fixtures import running_gitlab
from standins.gitlab import GitLabStandin

P = "group/app"
BATCH = "2026-01-05-overnight"
MANIFEST = f"""batch_id: "{BATCH}"
created_at: "2026-01-05T17:00:00Z"
tickets:
  - id: "PROJ-1"
    estimated_files: ["src/app.py"]
    repository: {P}
  - id: "PROJ-2"
    repository: {P}
  - id: "PROJ-3"
    repository: {P}
status: completed
"""


def git(*args: str, cwd: Path) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", "-c", "user.name=a", "-c", "user.email=a@a", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@dataclass
class FakeTracker:
    name: str = "fake"
    comments: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def comment_once(self, key: str, marker: str, body: str) -> str:
        self.comments.setdefault((key, marker), []).append(body)
        return marker


@dataclass
class GatesStandIn:
    """Stands in for nightshift.gates.run.run_gates: records what it was given and what it found."""

    score: int = 95
    flags: list[Flag] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)

    def __call__(
        self, repo_dir: Path, base: str, head: str, ticket: Ticket, config: Any, inputs: GateInputs
    ) -> GateReport:
        files = git("diff", "--name-only", base, head, cwd=repo_dir).splitlines()
        self.seen.append(
            {
                "dir": repo_dir,
                "base": base,
                "head": head,
                "at": git("rev-parse", "HEAD", cwd=repo_dir),
                "files": files,
                "ticket": ticket.id,
                "inputs": inputs,
            }
        )
        return GateReport(
            base=base,
            head=head,
            score=self.score,
            flags=self.flags,
            files_changed=files,
            checks=[CheckResult(name="tests", status="passed")],
            checks_counted=1,
            breakdown=[ScoreLine(check="tests", weight=100, earned=self.score)],
        )


@pytest.fixture
def server() -> Iterator[GitLabStandin]:
    with running_gitlab() as standin:
        yield standin


@pytest.fixture
def pushed(server: GitLabStandin, tmp_path: Path) -> tuple[str, str, int]:
    """agent/PROJ-1 with one commit on top of main, and its draft MR: (base sha, head sha, MR iid)."""
    clone = tmp_path / "clone"
    git("clone", "-q", server.repo_url(P, server.token), str(clone), cwd=tmp_path)
    base = git("rev-parse", "HEAD", cwd=clone)
    git("checkout", "-q", "-b", "agent/PROJ-1", cwd=clone)
    (clone / "src" / "app.py").write_text("def greet(name: str) -> str:\n    return f'Hi, {name}!'\n")
    git("commit", "-qam", "feat(PROJ-1): greet", cwd=clone)
    git("push", "-q", "origin", "agent/PROJ-1", cwd=clone)
    head = git("rev-parse", "HEAD", cwd=clone)
    mr = (
        make_gitlab_client(server.base_url, server.token)
        .projects.get(P)
        .mergerequests.create(
            {"source_branch": "agent/PROJ-1", "target_branch": "main", "title": "Draft: PROJ-1"}
        )
    )
    return base, head, int(mr.iid)


@pytest.fixture
def ctx(server: GitLabStandin, pushed: tuple[str, str, int], tmp_path: Path) -> GateContext:
    _, head, iid = pushed
    manifest = parse_manifest(MANIFEST)
    state = BatchState(ArtifactStore(f"file://{tmp_path}/artifacts").batch(BATCH))
    url = f"{server.base_url}/{P}/-/merge_requests/{iid}"
    state.save_outcome(
        TicketOutcome(
            ticket_id="PROJ-1",
            batch_id=BATCH,
            state=TicketState.COMPLETED,
            branch="agent/PROJ-1",
            merge_request_url=url,
            merge_request_iid=iid,
            target_branch="main",
        )
    )
    state.save_push(
        PushRecord(
            ticket_id="PROJ-1",
            branch="agent/PROJ-1",
            sha=head,
            base_branch="main",
            checkpoint_trailer="C2-complete",
        )
    )
    state.save_outcome(TicketOutcome(ticket_id="PROJ-2", batch_id=BATCH, state=TicketState.FAILED))
    state.save_push(
        PushRecord(
            ticket_id="PROJ-3",
            branch="agent/PROJ-3",
            sha=head,
            base_branch="main",
            checkpoint_trailer="C2-complete",
        )
    )
    state.save_outcome(
        TicketOutcome(ticket_id="PROJ-3", batch_id=BATCH, state=TicketState.COMPLETED, dry_run=True)
    )
    records = {
        t: IntakeRecord(ticket=Ticket(id=t, title=f"title {t}"), source="jira", tracker_key=f"J-{t}")
        for t in manifest.ticket_ids
    }
    client = make_gitlab_client(server.base_url, server.token, timeout=5, retries=2)
    tracker = FakeTracker()
    return GateContext(
        manifest=manifest,
        state=state,
        workspaces=WorkspaceManager(tmp_path / "work", min_free_mb=1),
        record=records.__getitem__,
        repository=lambda entry: Repository(path=P, git_url=server.repo_url(P, server.token)),
        run_gates=GatesStandIn(),
        forge=lambda repo: GateForge(client, repo.path),
        tracker=lambda record: tracker,
        airflow_base_url="http://airflow.test",
        task_logs=lambda t: {"C2": f"http://airflow.test/logs/{t}"},
    )


def test_only_tickets_with_a_pushed_mr_get_gates(ctx):
    assert stage.gate_ticket_ids(ctx.state, ctx.manifest) == ["PROJ-1"]  # PROJ-2 failed, PROJ-3 dry run
    assert stage.check_ticket(ctx, "PROJ-2").action == "skip"
    assert stage.publish_ticket(ctx, "PROJ-3").action == "skip"


def test_check_runs_the_gates_on_a_fresh_worktree_of_the_pushed_commit(ctx, pushed, tmp_path):
    base, head, _ = pushed
    decision = stage.check_ticket(ctx, "PROJ-1")
    assert decision.action == "continue" and decision.data["score"] == 95
    seen = ctx.run_gates.seen[0]
    assert (seen["base"], seen["head"], seen["at"], seen["files"]) == (base, head, head, ["src/app.py"])
    assert seen["dir"].is_relative_to(tmp_path / "work" / "worktrees" / f"{BATCH}-gates")
    assert not seen["dir"].exists(), "the gates worktree is removed afterwards"
    report = stage.load_gate_report(ctx.state, "PROJ-1")
    assert report is not None and (report.batch_id, report.ticket_id, report.score) == (BATCH, "PROJ-1", 95)
    assert report.merge_request_url and report.merge_request_url.endswith("/merge_requests/1")


def test_a_rerun_overwrites_the_one_report_record(ctx):
    stage.check_ticket(ctx, "PROJ-1")
    ctx.run_gates.score = 55
    stage.check_ticket(ctx, "PROJ-1")
    assert ctx.state.artifacts.list("tickets/PROJ-1").count("gates.json") == 1
    assert stage.load_gate_report(ctx.state, "PROJ-1").score == 55


def test_the_pipeline_result_reaches_the_core_and_the_report(ctx):
    failed = stage.pipeline_check({"status": "failed", "pipeline_id": 7, "web_url": "http://ci/7"}, 30)
    stage.save_pipeline(ctx, "PROJ-1", failed)
    stage.check_ticket(ctx, "PROJ-1")
    assert ctx.run_gates.seen[0]["inputs"].pipeline == failed
    report = stage.load_gate_report(ctx.state, "PROJ-1")
    assert [c.status for c in report.checks if c.name == "pipeline"] == ["failed"]
    assert [f.kind for f in report.flags] == ["pipeline_failed"]


@pytest.mark.parametrize(
    ("event", "status", "reason"),
    [
        ({"status": "success"}, "passed", "pipeline success"),
        ({"status": "canceled"}, "failed", "pipeline canceled"),
        ({"status": None}, "not_run", "no pipeline for the MR head"),
        (
            {"status": "running", "timed_out": True},
            "not_run",
            "pipeline did not finish in 30 min (last status: running)",
        ),
    ],
)
def test_pipeline_check_never_counts_a_missing_or_unfinished_pipeline_as_passed(event, status, reason):
    result = stage.pipeline_check(event, 30)
    assert (result.name, result.status, result.reason) == ("pipeline", status, reason)


def test_publish_posts_once_and_a_rerun_adds_nothing(ctx, server, pushed):
    _, head, iid = pushed
    for _ in range(2):
        stage.check_ticket(ctx, "PROJ-1")
        decision = stage.publish_ticket(ctx, "PROJ-1")
        assert decision.action == "continue"
    notes = server.notes(P, mr_iid=iid)
    assert len(notes) == 1 and "score 95/100 (high)" in notes[0]
    assert f"http://airflow.test/nightshift/batches/{BATCH}#ticket-PROJ-1" in notes[0]
    assert "[C2](http://airflow.test/logs/PROJ-1)" in notes[0]
    inputs = ctx.run_gates.seen[0]["inputs"]  # the core renders its summary with the same links
    assert inputs.links.review_page == f"http://airflow.test/nightshift/batches/{BATCH}#ticket-PROJ-1"
    assert inputs.links.task_logs == {"C2": "http://airflow.test/logs/PROJ-1"} and inputs.batch_id == BATCH
    assert inputs.merge_request_url.endswith("/merge_requests/1")
    assert "nightshift-score::high" in server.merge_requests(P)[0]["labels"]
    assert [(s["name"], s["status"]) for s in server.commit_statuses(P, head)] == [(STATUS_NAME, "success")]
    tracker = ctx.tracker(None)
    assert list(tracker.comments) == [("J-PROJ-1", f"nightshift:batch={BATCH};ticket=PROJ-1;kind=gates")]
    body = next(iter(tracker.comments.values()))[0]
    assert "/merge_requests/1" in body and "Quality score: 95/100 (high); security: OK" in body


def test_publish_without_a_report_says_so(ctx):
    with pytest.raises(RuntimeError, match="PROJ-1: no gate report"):
        stage.publish_ticket(ctx, "PROJ-1")


def test_gate_ticket_checks_then_publishes_a_security_flag(ctx, server, pushed):
    _, head, iid = pushed
    ctx.run_gates.flags = [Flag(kind="secret", file="src/app.py", line=2, message="token")]
    decision = stage.gate_ticket(ctx, "PROJ-1")
    assert decision.data["status_state"] == "failed" and decision.data["flags"] == ["secret"]
    assert "nightshift::security" in server.merge_requests(P)[0]["labels"]
    target = stage.pipeline_target(ctx, "PROJ-1")
    assert (target.project, target.mr_iid, target.sha) == (P, iid, head)


def test_the_real_gates_core_runs_through_the_stage(ctx, server, pushed):
    """core_run_gates: the stage's inputs in the core's terms (pipeline outcome, summary links)."""
    _, head, iid = pushed
    ctx.run_gates = stage.core_run_gates
    ctx.gate_config = lambda repo_dir: GatesConfig(security={"semgrep": False})  # bandit is enough here
    failed = stage.pipeline_check({"status": "failed", "web_url": "http://ci/7"}, 30)
    stage.save_pipeline(ctx, "PROJ-1", failed)
    stage.gate_ticket(ctx, "PROJ-1")
    report = stage.load_gate_report(ctx.state, "PROJ-1")
    assert report.head == head and report.files_changed == ["src/app.py"]
    assert {c.name for c in report.checks} >= {"tests", "lint", "security", "secrets", "scope", "pipeline"}
    assert [f.kind for f in report.flags if f.kind == "pipeline_failed"] == ["pipeline_failed"]
    note = server.notes(P, mr_iid=iid)[0]
    assert f"**Score: {report.score}/100**" in note
    assert f"[Review page](http://airflow.test/nightshift/batches/{BATCH}#ticket-PROJ-1)" in note
    assert "[C2](http://airflow.test/logs/PROJ-1)" in note
