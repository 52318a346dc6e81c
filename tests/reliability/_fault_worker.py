"""One Airflow-worker attempt at a ticket, as a separate process, for the kill-and-retry rows.

    python -m tests.reliability._fault_worker '<WorkerSpec JSON>'

Builds the real generation context (scripted agent in the sandbox, real worktrees, python-gitlab against
the GitLab stand-in the test process serves) and runs the ticket's steps in the DAG's order, each
resuming from the batch records as a retried task does. With `kill_after`, the named phase's real side
effect happens and then the process dies on the spot (`os._exit`, no cleanup, no `finally`): what a
worker lost to the OOM killer or a node failure leaves behind. With `barrier`, the steps wait until that
file exists, so two workers start the same step together. It prints the last decision as JSON.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from nightshift.agents.backends import build_runner
from nightshift.agents.config import AgentConfig
from nightshift.agents.contract import Checkpoint
from nightshift.agents.workspace import WorkspaceManager
from nightshift.artifacts import ArtifactStore
from nightshift.forge.git import GitAuth
from nightshift.forge.merge_requests import MergeRequestForge
from nightshift.generation import flow
from nightshift.generation.flow import GenerationContext, Repository
from nightshift.generation.state import BatchState
from nightshift.intake.records import IntakeRecord
from nightshift.manifest import parse_manifest
from nightshift.models import Ticket
from nightshift.trackers.clients.gitlab import make_gitlab_client
from nightshift.trackers.gitlab import GitLabIssueTracker

KILLED = 137  # the exit status a SIGKILLed worker reports
APP = "group/app"
TICKET = "CALC-1"
MANIFEST = f"""batch_id: "2026-01-05-overnight"
created_at: "2026-01-05T18:00:00Z"
config: {{max_tickets: 10, timeout_per_ticket: 30m, parallel_agents: 1}}
tickets:
  - {{id: "{TICKET}", priority: high, complexity: small, estimated_files: ["src/*"], repository: "{APP}"}}
"""

Phase = Literal["tests", "commit", "push", "mr", "followup", "note"]
Step = Literal["dependencies", "C0", "C1", "escalation", "C2", "publish"]
ALL_STEPS: list[Step] = ["dependencies", "C0", "C1", "escalation", "C2", "publish"]


class WorkerSpec(BaseModel):
    root: str  # the test's tmp folder: artifacts/, ws/, behaviours/, state/ live in it
    gitlab_url: str
    token: str
    attempt: str = "try1"
    steps: list[Step] = ALL_STEPS
    kill_after: Phase | None = None
    barrier: str | None = None


def build_context(spec: WorkerSpec) -> GenerationContext:
    root = Path(spec.root)
    manifest = parse_manifest(MANIFEST)
    runner = build_runner(
        AgentConfig(
            backend="scripted",
            grace_seconds=1,
            timeout_seconds=120,
            scripted={"behaviours_dir": str(root / "behaviours"), "state_dir": str(root / "state")},
        )
    )
    gl = make_gitlab_client(spec.gitlab_url, spec.token, timeout=10, retries=2)
    tracker = GitLabIssueTracker(gl, [APP])
    record = IntakeRecord(
        ticket=Ticket(
            id=TICKET, title="double it", source="gitlab", complexity="small", estimated_files=["src/*"]
        ),
        source="gitlab",
        tracker_key=f"{APP}#1",
    )
    return GenerationContext(
        manifest=manifest,
        state=BatchState(ArtifactStore(f"file://{root}/artifacts").batch(manifest.batch_id)),
        runner=runner,
        workspaces=WorkspaceManager(root / "ws", min_free_mb=1),
        record=lambda ticket_id: record,
        repository=lambda entry: Repository(
            path=APP, git_url=f"{spec.gitlab_url}/{APP}.git", auth=GitAuth(token=spec.token)
        ),
        forge=lambda repo: MergeRequestForge(gl, repo.path),
        tracker=lambda rec: tracker,
    )


def _die_after(
    call: Callable[..., Any], when: Callable[..., bool] = lambda *a, **k: True
) -> Callable[..., Any]:
    """`call`, then the process dies on the spot (its side effect done, nothing recorded after it)."""

    @functools.wraps(call)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = call(*args, **kwargs)
        if when(*args, **kwargs):
            sys.stdout.flush()
            os._exit(KILLED)
        return result

    return wrapper


def inject(ctx: GenerationContext, phase: Phase | None) -> None:
    """Arm the kill right after `phase`'s side effect."""
    if phase is None:
        return
    if phase == "tests":  # the agent edited and ran its tests; its result is not recorded yet
        ctx.runner.run = _die_after(  # type: ignore[method-assign]
            ctx.runner.run, lambda request, *a, **k: request.checkpoint == Checkpoint.C2
        )
    elif phase == "commit":
        flow.commit_all = _die_after(flow.commit_all)  # type: ignore[assignment]
    elif phase == "push":
        flow.push_agent_branch = _die_after(flow.push_agent_branch)  # type: ignore[assignment]
    elif phase == "mr":
        MergeRequestForge.upsert_draft_mr = _die_after(MergeRequestForge.upsert_draft_mr)  # type: ignore[method-assign]
    elif phase == "followup":
        GitLabIssueTracker.create_followup_once = _die_after(GitLabIssueTracker.create_followup_once)  # type: ignore[method-assign]
    elif phase == "note":
        GitLabIssueTracker.comment_once = _die_after(GitLabIssueTracker.comment_once)  # type: ignore[method-assign]


def ticket_steps(
    ctx: GenerationContext, which: list[Step], attempt: str
) -> list[Callable[[], flow.Decision]]:
    """The ticket's core steps in the order the ticket task runs them (dependencies, C0, C1, escalation
    check, C2, publish: nightshift_airflow.operators.ticket_steps.TicketOperator)."""
    steps: list[Callable[[], flow.Decision]] = []
    for name in which:
        if name == "dependencies":
            steps.append(lambda: flow.dependency_decision(ctx, TICKET))
        elif name == "escalation":
            steps.append(lambda: flow.escalation_decision(ctx, TICKET))
        elif name == "publish":
            steps.append(lambda: flow.publish(ctx, TICKET))
        else:
            cp = Checkpoint(name)
            steps += [
                lambda cp=cp: flow.before_checkpoint(ctx, TICKET, cp),
                lambda cp=cp: flow.run_checkpoint(ctx, TICKET, cp, attempt),
            ]
    return steps


def main(argv: list[str]) -> int:
    spec = WorkerSpec.model_validate_json(argv[0])
    ctx = build_context(spec)
    inject(ctx, spec.kill_after)
    if spec.barrier is not None:
        while not Path(spec.barrier).exists():
            time.sleep(0.005)
    decision = flow.Decision(action="continue")
    for step in ticket_steps(ctx, spec.steps, spec.attempt):
        decision = step()
        if decision.action != "continue":
            break
    print(decision.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
