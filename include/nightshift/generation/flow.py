"""The per-ticket generation flow as plain, resumable steps (the Airflow operators are thin shells).

Each step reads the batch records first and returns a Decision, so a retried or cleared task resumes
from the last completed checkpoint and never repeats a finished step's side effects.

    dependencies -> C0 scope -> C1 plan and risks -> escalation check -> C2 implement and test
                 -> commit + push agent/<id> -> draft merge request -> outcome
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import quote

from pydantic import BaseModel

from nightshift.agents.contract import Checkpoint, CheckpointRequest, CheckpointResult, Limits
from nightshift.forge.commits import batch_date, commit_message
from nightshift.forge.git import (
    GitAuth,
    agent_branch,
    commit_all,
    push_agent_branch,
    remote_branch_sha,
    run_git,
)
from nightshift.generation.escalation import EscalationPolicy, escalation_reasons
from nightshift.generation.state import BatchState, Escalation, PushRecord, TicketOutcome, utcnow
from nightshift.intake.records import IntakeRecord
from nightshift.models import BatchManifest, ManifestTicket, Ticket, TicketState
from nightshift.publish import texts
from nightshift.trackers.base import Tracker, marker_key


class Decision(BaseModel):
    """What the operator should do next."""

    action: Literal["continue", "defer", "skip", "fail", "wait"]
    reason: str = ""
    until: dt.datetime | None = None
    data: dict[str, Any] = {}


CONTINUE = Decision(action="continue")


class Runner(Protocol):
    def run(
        self, request: CheckpointRequest, run_dir: Path, *, deadline_monotonic: float | None = None
    ) -> CheckpointResult: ...


class Workspaces(Protocol):
    """nightshift.agents.workspace.WorkspaceManager."""

    def create(
        self, repo_url: str, ticket_id: str, base_ref: str, branch: str | None = None, *, batch_id: str
    ) -> Path: ...
    def remove(self, batch_id: str, ticket_id: str) -> bool: ...


class Forge(Protocol):
    """What publishing needs from the forge (nightshift.forge.merge_requests.MergeRequestForge)."""

    def upsert_draft_mr(
        self, source_branch: str, target_branch: str, title: str, description: str, labels: list[str]
    ) -> Any: ...


@dataclass
class Repository:
    """Where a ticket's code lives: the forge project, its git URL and credentials."""

    path: str
    git_url: str
    default_branch: str = "main"
    auth: GitAuth | None = None

    @property
    def fetch_url(self) -> str:
        """The URL the workspace mirror fetches from: credentials in it are split off by the
        WorkspaceManager and never reach the mirror's config or the sandbox."""
        if self.auth is None or "://" not in self.git_url:
            return self.git_url
        scheme, rest = self.git_url.split("://", 1)
        return f"{scheme}://{quote(self.auth.username)}:{quote(self.auth.token, safe='')}@{rest}"


@dataclass
class GenerationContext:
    """Everything a step needs; built by the Airflow layer (hooks) or by tests."""

    manifest: BatchManifest
    state: BatchState
    runner: Runner
    workspaces: Workspaces
    record: Callable[[str], IntakeRecord]
    repository: Callable[[ManifestTicket], Repository]
    forge: Callable[[Repository], Forge] | None = None
    tracker: Callable[[IntakeRecord], Tracker | None] = lambda record: None
    policy: EscalationPolicy = field(default_factory=EscalationPolicy)
    limits: Limits | None = None
    dry_run: bool = False
    labels: list[str] = field(default_factory=lambda: ["nightshift"])
    clock: Callable[[], dt.datetime] = utcnow
    #: Cap on an agent-reported rate-limit wait (generation.rate_limit_max_wait).
    rate_limit_max_wait: dt.timedelta = dt.timedelta(hours=1)
    #: The end of the generation window (the gates window opens): no pause lasts past it.
    window_end: dt.datetime | None = None

    @property
    def batch_id(self) -> str:
        return self.manifest.batch_id

    def ticket_record(self, ticket_id: str) -> Ticket:
        return self.record(ticket_id).ticket


# --------------------------------------------------------------------------------------------------------
def _finish(
    ctx: GenerationContext, ticket_id: str, state: TicketState, reason: str, **extra: Any
) -> TicketOutcome:
    return ctx.state.save_outcome(
        TicketOutcome(
            ticket_id=ticket_id,
            batch_id=ctx.batch_id,
            state=state,
            reason=reason,
            dry_run=ctx.dry_run,
            **extra,
        )
    )


def _already_finished(ctx: GenerationContext, ticket_id: str) -> Decision | None:
    """A ticket with an outcome is final in this batch: every later step skips."""
    outcome = ctx.state.outcome(ticket_id)
    if outcome is None:
        return None
    return Decision(action="skip", reason=f"{ticket_id} already {outcome.state.value}: {outcome.reason}")


def _carry_over_if_aborted(ctx: GenerationContext, ticket_id: str) -> Decision | None:
    if ctx.state.aborted():
        outcome = _finish(
            ctx, ticket_id, TicketState.CARRIED_OVER, "batch aborted after more than 3 rate limits"
        )
        return Decision(action="skip", reason=f"{ticket_id}: {outcome.state.value}: {outcome.reason}")
    return None


def dependency_decision(ctx: GenerationContext, ticket_id: str) -> Decision:
    """wait while a dependency is unfinished; skip (and carry over) when one did not complete."""
    if (finished := _already_finished(ctx, ticket_id)) is not None:
        return finished
    if (aborted := _carry_over_if_aborted(ctx, ticket_id)) is not None:
        return aborted
    deps = ctx.manifest.ticket(ticket_id).dependencies
    outcomes = ctx.state.outcomes(list(deps))
    bad = {d: o for d, o in outcomes.items() if o.state != TicketState.COMPLETED}
    if bad:
        why = ", ".join(f"{d} {o.state.value}" for d, o in sorted(bad.items()))
        outcome = _finish(ctx, ticket_id, TicketState.SKIPPED, f"dependency did not complete: {why}")
        return Decision(action="skip", reason=f"{ticket_id} skipped and carried over: {outcome.reason}")
    if len(outcomes) < len(deps):
        waiting = sorted(set(deps) - set(outcomes))
        return Decision(action="wait", reason="waiting on " + ", ".join(waiting), data={"waiting": waiting})
    return CONTINUE


def before_checkpoint(ctx: GenerationContext, ticket_id: str, checkpoint: Checkpoint) -> Decision:
    """The checks every checkpoint makes before an agent may start."""
    if (finished := _already_finished(ctx, ticket_id)) is not None:
        return finished
    if ctx.state.checkpoint_result(ticket_id, checkpoint) is not None:
        return CONTINUE  # resume: the result is on record, no agent needed
    if (aborted := _carry_over_if_aborted(ctx, ticket_id)) is not None:
        return aborted
    paused = ctx.state.paused_until(ctx.clock())
    if paused is not None:
        return Decision(
            action="defer", until=paused, reason=f"batch paused for a rate limit until {paused:%H:%M:%S}Z"
        )
    ctx.state.start_ticket(ticket_id, ctx.manifest.config.timeout_seconds, ctx.clock())
    deadline = ctx.state.deadline(ticket_id, ctx.clock())
    if deadline is not None and ctx.clock() >= deadline:
        _finish(
            ctx,
            ticket_id,
            TicketState.FAILED,
            f"timed out: over timeout_per_ticket "
            f"({ctx.manifest.config.timeout_per_ticket}) before {checkpoint.value}",
        )
        return Decision(action="fail", reason=f"{ticket_id} timed out before {checkpoint.value}")
    return CONTINUE


def _base_for(ctx: GenerationContext, ticket: ManifestTicket, repo: Repository) -> tuple[str, str]:
    """(base ref to branch from, MR target branch): a ticket whose dependency completed in this batch
    builds on that ticket's branch, as a stacked MR targeting it."""
    base = ticket.base_branch or repo.default_branch
    for dep in reversed(ctx.manifest.ticket_ids):
        if dep in ticket.dependencies:
            outcome = ctx.state.outcome(dep)
            if outcome is not None and outcome.state == TicketState.COMPLETED and outcome.branch:
                return outcome.branch, outcome.branch
    return base, base


def _workspace(ctx: GenerationContext, ticket_id: str) -> tuple[Path, Repository, str, str]:
    entry = ctx.manifest.ticket(ticket_id)
    repo = ctx.repository(entry)
    base, target = _base_for(ctx, entry, repo)
    path = ctx.workspaces.create(
        repo.fetch_url, ticket_id, base, agent_branch(ticket_id), batch_id=ctx.batch_id
    )
    return path, repo, base, target


def run_checkpoint(ctx: GenerationContext, ticket_id: str, checkpoint: Checkpoint, attempt: str) -> Decision:
    """Run one checkpoint (or return its recorded result) and record what happened."""
    existing = ctx.state.checkpoint_result(ticket_id, checkpoint)
    if existing is not None:
        return Decision(
            action="continue",
            reason=f"{checkpoint.value} already on record: resumed",
            data={"status": existing.status},
        )
    ctx.state.start_ticket(ticket_id, ctx.manifest.config.timeout_seconds, ctx.clock())
    remaining = (ctx.state.deadline(ticket_id, ctx.clock()) - ctx.clock()).total_seconds()  # type: ignore[operator]
    workspace, repo, base, _ = _workspace(ctx, ticket_id)
    per_checkpoint = ctx.limits.timeout_seconds if ctx.limits else int(remaining)
    limits = (ctx.limits or Limits(timeout_seconds=1)).model_copy(
        update={"timeout_seconds": max(1, min(int(remaining), per_checkpoint))}
    )
    request = CheckpointRequest(
        batch_id=ctx.batch_id,
        ticket=ctx.ticket_record(ticket_id),
        checkpoint=checkpoint,
        workspace=str(workspace),
        previous=ctx.state.previous_results(ticket_id, checkpoint),
        limits=limits,
        escalation_answer=ctx.record(ticket_id).escalation_answer,
    )
    deadline = time.monotonic() + remaining
    # Preparing the worktree takes a while: look at the batch again just before the agent starts, so a
    # rate limit another ticket hit meanwhile still holds this one back.
    if (aborted := _carry_over_if_aborted(ctx, ticket_id)) is not None:
        return aborted
    launched_at = ctx.clock()
    if (paused := ctx.state.paused_until(launched_at)) is not None:
        return Decision(action="defer", until=paused, reason=f"batch paused for a rate limit until {paused}")
    with tempfile.TemporaryDirectory(prefix=f"nightshift-{ticket_id}-{checkpoint.value}-") as tmp:
        run_dir = Path(tmp)
        (run_dir / "launch.json").write_text(json.dumps({"launched_at": launched_at.isoformat()}))
        result = ctx.runner.run(request, run_dir, deadline_monotonic=deadline)
        _store_evidence(ctx, ticket_id, checkpoint, attempt, run_dir)

    if result.status == "rate_limited":
        event = ctx.state.record_rate_limit(
            ticket_id,
            checkpoint,
            result.rate_limit_reset_at,
            ctx.clock(),
            max_wait=ctx.rate_limit_max_wait,
            not_after=ctx.window_end,
        )
        if (aborted := _carry_over_if_aborted(ctx, ticket_id)) is not None:
            return aborted
        return Decision(
            action="defer",
            until=event.reset_at,
            reason=f"rate limit #{len(ctx.state.rate_limits())}: batch paused until {event.reset_at}",
        )
    if result.status == "failed":
        _finish(ctx, ticket_id, TicketState.FAILED, f"{checkpoint.value} failed: {result.reason}")
        ctx.workspaces.remove(ctx.batch_id, ticket_id)
        return Decision(action="fail", reason=f"{ticket_id} {checkpoint.value} failed: {result.reason}")
    if checkpoint == Checkpoint.C2:
        if result.status not in ("ok", "partial"):
            _finish(ctx, ticket_id, TicketState.FAILED, f"C2 answered {result.status}: {result.reason}")
            return Decision(action="fail", reason=f"{ticket_id} C2 answered {result.status}")
        pushed = _commit_and_push(ctx, ticket_id, workspace, repo, base, result)
        if pushed is None:
            _finish(ctx, ticket_id, TicketState.FAILED, "C2 finished without changing any file")
            ctx.workspaces.remove(ctx.batch_id, ticket_id)
            return Decision(action="fail", reason=f"{ticket_id}: C2 made no change")
    ctx.state.save_checkpoint(ticket_id, result)
    return Decision(
        action="continue", reason=f"{checkpoint.value} {result.status}", data={"status": result.status}
    )


def _store_evidence(
    ctx: GenerationContext, ticket_id: str, checkpoint: Checkpoint, attempt: str, run_dir: Path
) -> None:
    base = ctx.state.run_dir_name(ticket_id, checkpoint, attempt)
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and path.stat().st_size <= 8 * 1024 * 1024:
            rel = path.relative_to(run_dir).as_posix()
            ctx.state.artifacts.write_text(
                f"{base}/{rel}", path.read_text(encoding="utf-8", errors="replace")
            )


def _commit_and_push(
    ctx: GenerationContext,
    ticket_id: str,
    workspace: Path,
    repo: Repository,
    base: str,
    result: CheckpointResult,
) -> PushRecord | None:
    impl = result.implementation
    partial = result.status == "partial"
    ticket = ctx.ticket_record(ticket_id)
    message = commit_message(
        ticket_id,
        (impl.summary if impl and impl.summary else ticket.title) or "implement ticket",
        (
            impl.bullets
            if impl and impl.bullets
            else [f"Change {f}" for f in (impl.files_changed if impl else [])]
        ),
        ctx.batch_id,
        partial,
    )
    created = dt.datetime.fromisoformat(ctx.manifest.created_at.replace("Z", "+00:00"))
    sha = commit_all(workspace, message, when=created)
    if sha is None:
        return None
    record = PushRecord(
        ticket_id=ticket_id,
        branch=agent_branch(ticket_id),
        sha=sha,
        base_branch=base,
        checkpoint_trailer="C2-partial" if partial else "C2-complete",
    )
    if not ctx.dry_run:
        previous = ctx.state.push_record(ticket_id)
        remote = remote_branch_sha(repo.git_url, record.branch, repo.auth)
        if remote != sha:
            expected = (
                previous.sha
                if previous is not None
                else remote
                if _is_ours(workspace, remote, repo, ctx.batch_id)
                else None
            )
            if remote is not None and expected is None:
                raise RuntimeError(
                    f"{ticket_id}: {record.branch} on the forge is at {remote[:12]}, a commit Nightshift "
                    "did not push in this batch; refusing to overwrite it"
                )
            push_agent_branch(workspace, repo.git_url, ticket_id, sha, expected, repo.auth)
    ctx.state.save_push(record)
    return record


def _is_ours(workspace: Path, remote_sha: str | None, repo: Repository, batch_id: str) -> bool:
    """Whether the remote branch holds a commit an earlier try of this batch pushed (lost record)."""
    if remote_sha is None:
        return False
    fetched = run_git(["fetch", "--quiet", repo.git_url, remote_sha], workspace, auth=repo.auth, check=False)
    if fetched.returncode != 0:
        return False
    body = run_git(["log", "-1", "--format=%B", remote_sha], workspace, check=False).stdout
    return f"Agent: batch-{batch_date(batch_id)}" in body


def escalation_decision(ctx: GenerationContext, ticket_id: str) -> Decision:
    """After C1: queue the ticket for a human when any escalation trigger fires."""
    if (finished := _already_finished(ctx, ticket_id)) is not None:
        return finished
    ticket = ctx.ticket_record(ticket_id)
    scope = ctx.state.checkpoint_result(ticket_id, Checkpoint.C0)
    plan = ctx.state.checkpoint_result(ticket_id, Checkpoint.C1)
    if plan is None:
        raise RuntimeError(f"{ticket_id}: no C1 result on record; run C1 first")
    reasons = escalation_reasons(ticket, scope, plan, ctx.policy)
    if scope is not None and scope.status == "escalate":
        reasons.insert(0, f"agent asked for a decision at C0: {scope.reason}")
    if not reasons:
        return CONTINUE
    entry = ctx.manifest.ticket(ticket_id)
    ctx.state.save_escalation(
        Escalation(
            ticket_id=ticket_id,
            batch_id=ctx.batch_id,
            reasons=reasons,
            scope=scope,
            plan=plan,
            ticket_url=entry.url,
            title=entry.title or ticket.title,
        )
    )
    found = _tracker_for(ctx, ticket_id)
    if found is not None:
        tracker, key = found
        body = texts.escalation_comment(ctx.batch_id, ticket_id, reasons)
        tracker.comment_once(key, marker_key(batch=ctx.batch_id, ticket=ticket_id, kind="escalation"), body)
        tracker.ensure_labels(key, add=["agent-escalated"], remove=["ready-for-agent"])
    _finish(ctx, ticket_id, TicketState.ESCALATED, "; ".join(reasons))
    ctx.workspaces.remove(ctx.batch_id, ticket_id)
    return Decision(action="skip", reason=f"{ticket_id} escalated: {'; '.join(reasons)}")


def _tracker_for(ctx: GenerationContext, ticket_id: str) -> tuple[Tracker, str] | None:
    """The ticket's tracker and the key it knows the ticket by (GitLab references differ from ids)."""
    record = ctx.record(ticket_id)
    if ctx.dry_run or record.tracker_key is None:
        return None
    tracker = ctx.tracker(record)
    return (tracker, record.tracker_key) if tracker is not None else None


def mr_description(ctx: GenerationContext, ticket: Ticket, url: str | None) -> str:
    """The draft MR's description (built in nightshift.publish.texts, agent text guarded)."""
    return texts.mr_description(
        batch_id=ctx.batch_id,
        ticket_id=ticket.id,
        url=url,
        scope=ctx.state.checkpoint_result(ticket.id, Checkpoint.C0),
        plan=ctx.state.checkpoint_result(ticket.id, Checkpoint.C1),
        impl=ctx.state.checkpoint_result(ticket.id, Checkpoint.C2),
        marker=marker_key(batch=ctx.batch_id, ticket=ticket.id, kind="mr"),
    )


def publish(ctx: GenerationContext, ticket_id: str) -> Decision:
    """Open (or update) the draft MR; for a partial result, create the follow-up ticket once."""
    finished = ctx.state.outcome(ticket_id)
    if finished is not None and finished.state in (TicketState.COMPLETED, TicketState.PARTIAL):
        return Decision(
            action="continue",
            reason=f"{ticket_id} already published",
            data={"merge_request_url": finished.merge_request_url},
        )
    if finished is not None:
        return Decision(action="skip", reason=f"{ticket_id} already {finished.state.value}")
    impl = ctx.state.checkpoint_result(ticket_id, Checkpoint.C2)
    push = ctx.state.push_record(ticket_id)
    if impl is None or push is None:
        raise RuntimeError(f"{ticket_id}: nothing to publish (C2 result or push record missing)")
    ticket = ctx.ticket_record(ticket_id)
    entry = ctx.manifest.ticket(ticket_id)
    repo = ctx.repository(entry)
    _, target = _base_for(ctx, entry, repo)
    partial = impl.status == "partial"
    remaining = impl.implementation.remaining_work if impl.implementation else []
    mr_url: str | None = None
    mr_iid: int | None = None
    followup: str | None = None
    if not ctx.dry_run and ctx.forge is not None:
        forge = ctx.forge(repo)
        title = texts.mr_title(ticket_id, ticket.title, partial=partial)
        labels = [*ctx.labels, "nightshift::partial" if partial else "nightshift::complete"]
        mr = forge.upsert_draft_mr(push.branch, target, title, mr_description(ctx, ticket, entry.url), labels)
        mr_url, mr_iid = mr.web_url, mr.iid
        found = _tracker_for(ctx, ticket_id)
        if partial and found is not None:
            tracker, key = found
            followup = tracker.create_followup_once(
                key,
                marker_key(batch=ctx.batch_id, ticket=ticket_id, kind="followup"),
                texts.followup_title(ticket_id, ticket.title),
                texts.followup_body(ctx.batch_id, ticket_id, mr_url, remaining),
            )
    state = TicketState.PARTIAL if partial else TicketState.COMPLETED
    outcome = _finish(
        ctx,
        ticket_id,
        state,
        impl.reason or ("partial: " + "; ".join(remaining) if partial else "draft MR ready"),
        branch=push.branch,
        merge_request_url=mr_url,
        merge_request_iid=mr_iid,
        target_branch=target,
        followup_key=followup,
        remaining_work=remaining,
    )
    ctx.workspaces.remove(ctx.batch_id, ticket_id)
    return Decision(
        action="continue",
        reason=f"{ticket_id} {outcome.state.value}",
        data={"merge_request_url": outcome.merge_request_url},
    )
