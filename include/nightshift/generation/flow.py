"""The per-ticket generation flow as plain, resumable steps (the Airflow operators are thin shells).

Each step reads the batch records first and returns a Decision, so a retried or cleared task resumes
from the last completed checkpoint and never repeats a finished step's side effects.

    dependencies -> branch ownership -> C0 scope -> C1 plan and risks -> escalation check
                 -> C2 implement and test -> commit -> pre-push fence -> record -> push agent/<id>
                 -> draft merge request -> outcome

The agent's tree is untrusted: host git runs on it only through nightshift.forge.git (hardened, and
refusing a planted `.git`), the fence reads the real diff before anything is pushed, and the commit is
recorded before the push so a failed push is retried without running the agent again.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import quote

from pydantic import BaseModel

from nightshift import layout
from nightshift.agents.contract import Checkpoint, CheckpointRequest, CheckpointResult, Limits
from nightshift.artifacts import _SAFE_PART
from nightshift.forge.commits import commit_message, is_batch_commit, trailers
from nightshift.forge.fence import FenceFinding, FencePolicy, check_diff
from nightshift.forge.git import (
    GitAuth,
    GitlinkError,
    Identity,
    NestedRepositoryError,
    agent_branch,
    commit_all,
    keep_commit,
    make_readable,
    nested_git_paths,
    push_agent_branch,
    remote_branch_sha,
    resolve_commit,
)
from nightshift.generation.escalation import EscalationPolicy, escalation_reasons
from nightshift.generation.locks import ticket_lock
from nightshift.generation.state import (
    BatchState,
    BranchClaim,
    Escalation,
    PushRecord,
    TicketOutcome,
    utcnow,
)
from nightshift.generation.usage import Budget, over_budget
from nightshift.intake.config import DEFAULT_PARTIAL_LABEL, DEFAULT_READY_LABEL
from nightshift.intake.followups import FollowupFile, write_followup_file
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


class RemoteHead(Protocol):
    """nightshift.agents.workspace.RemoteHead: a branch head on the forge."""

    @property
    def sha(self) -> str: ...
    @property
    def author_email(self) -> str: ...
    @property
    def message(self) -> str: ...


class Workspaces(Protocol):
    """nightshift.agents.workspace.WorkspaceManager."""

    def create(
        self, repo_url: str, ticket_id: str, base_ref: str, branch: str | None = None, *, batch_id: str
    ) -> Path: ...
    def remove(self, batch_id: str, ticket_id: str) -> bool: ...
    def mirror(self, repo_url: str) -> Path: ...
    def remote_head(self, repo_url: str, branch: str) -> RemoteHead | None: ...


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
    fence: FencePolicy = field(default_factory=FencePolicy)
    identity: Identity = field(default_factory=Identity)
    budget: Budget = field(default_factory=Budget)

    def __post_init__(self) -> None:
        # A real run does not read a dry run's records (and a dry run keeps its own apart).
        self.state.dry_run = self.dry_run

    #: Cap on an agent-reported rate-limit wait (generation.rate_limit_max_wait).
    rate_limit_max_wait: dt.timedelta = dt.timedelta(hours=1)
    #: The end of the generation window (the gates window opens): no pause lasts past it.
    window_end: dt.datetime | None = None
    #: The label a ticket finished in part gets, and the ready label it loses (intake's labels).
    partial_label: str = DEFAULT_PARTIAL_LABEL
    ready_label: str = DEFAULT_READY_LABEL
    #: Where the follow-up of a partial file ticket is written (the outbox) and the folders whose ticket
    #: ids it must not take; None: the ticket has no folder (a tracker ticket).
    followup_folders: Callable[[IntakeRecord], tuple[Path, list[Path]] | None] = lambda record: None

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
        if ctx.window_end is not None and ctx.clock() >= ctx.window_end:
            # A dependency without an outcome at the end of the night (its task failed without one, or is
            # still running): waiting longer would hold the run open into the next night.
            return _carry_over_for_window(ctx, ticket_id, "dependency " + ", ".join(waiting) + " unfinished")
        return Decision(
            action="wait",
            reason="waiting on " + ", ".join(waiting),
            data={"waiting": waiting},
            until=ctx.window_end,  # the trigger gives up then, and this decision carries the ticket over
        )
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
    if (spent := over_budget(ctx.state, ticket_id, ctx.budget)) is not None:
        outcome = _finish(
            ctx, ticket_id, TicketState.CARRIED_OVER, f"{checkpoint.value} not started: {spent}"
        )
        return Decision(action="skip", reason=f"{ticket_id}: {outcome.state.value}: {outcome.reason}")
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
    if (late := window_decision(ctx, ticket_id, checkpoint)) is not None:
        return late
    if checkpoint == Checkpoint.C0 and (claimed := _claim_branch(ctx, ticket_id)) is not None:
        return claimed
    return CONTINUE


def _is_ours(ctx: GenerationContext, head: RemoteHead) -> bool:
    """A branch head this batch pushed: the bot's author and the exact batch trailer."""
    return is_batch_commit(head.message, head.author_email, ctx.batch_id, ctx.identity.email)


def _whose(head: RemoteHead) -> str:
    batch = dict(trailers(head.message)).get("Nightshift-Batch")
    who = f"left by Nightshift batch {batch}" if batch else f"a commit by {head.author_email}"
    return re.sub(r"[^\w .@+:-]", "", who)[:120]


def _claim_branch(ctx: GenerationContext, ticket_id: str) -> Decision | None:
    """Before any agent time is spent: agent/<id> on the forge must be absent or this batch's own.

    A branch an earlier batch (or a person) left is never overwritten; the ticket is carried over with
    the reason, so it runs again once the branch is merged or deleted."""
    if ctx.dry_run or ctx.state.branch_claim(ticket_id) is not None:
        return None
    repo = ctx.repository(ctx.manifest.ticket(ticket_id))
    branch = agent_branch(ticket_id)
    head = ctx.workspaces.remote_head(repo.fetch_url, branch)
    if head is not None and not _is_ours(ctx, head):
        outcome = _finish(
            ctx,
            ticket_id,
            TicketState.CARRIED_OVER,
            f"{branch} already exists on the forge at {head.sha[:12]} ({_whose(head)}); Nightshift does "
            "not overwrite it: merge or delete that branch and the ticket runs in a later batch",
        )
        return Decision(action="skip", reason=f"{ticket_id} carried over: {outcome.reason}")
    ctx.state.save_branch_claim(
        BranchClaim(ticket_id=ticket_id, branch=branch, remote_sha=head.sha if head else None)
    )
    return None


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
    """Run one checkpoint (or return its recorded result) and record what happened. A second run of
    the same ticket at the same time waits for this one, then resumes from its records."""
    with ticket_lock(ctx.state.artifacts, ticket_id):
        return _run_checkpoint(ctx, ticket_id, checkpoint, attempt)


def _run_checkpoint(ctx: GenerationContext, ticket_id: str, checkpoint: Checkpoint, attempt: str) -> Decision:
    existing = ctx.state.checkpoint_result(ticket_id, checkpoint)
    if existing is not None:
        record = ctx.state.push_record(ticket_id) if checkpoint == Checkpoint.C2 else None
        if record is not None and not record.pushed:
            # The commit is on record but its push failed: push it; the agent does not run again.
            if (refused := _push(ctx, ticket_id, record)) is not None:
                return refused
            return Decision(
                action="continue",
                reason="C2 already on record: pushed the recorded commit",
                data={"status": existing.status},
            )
        return Decision(
            action="continue",
            reason=f"{checkpoint.value} already on record: resumed",
            data={"status": existing.status},
        )
    ctx.state.start_ticket(ticket_id, ctx.manifest.config.timeout_seconds, ctx.clock())
    remaining = (ctx.state.deadline(ticket_id, ctx.clock()) - ctx.clock()).total_seconds()  # type: ignore[operator]
    if ctx.window_end is not None:  # the agent is stopped when the gates window opens
        remaining = min(remaining, (ctx.window_end - ctx.clock()).total_seconds())
    workspace, _repo, base, _ = _workspace(ctx, ticket_id)
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
        (run_dir / layout.RUN_LAUNCH).write_text(json.dumps({"launched_at": launched_at.isoformat()}))
        result = ctx.runner.run(request, run_dir, deadline_monotonic=deadline)
        _store_evidence(ctx, ticket_id, checkpoint, attempt, run_dir)

    make_readable(workspace)  # a 0000 folder must not hide a planted .git (or fail the commit)
    planted = nested_git_paths(workspace)
    if planted:
        reason = (
            f"{checkpoint.value} refused: the agent left a nested .git at {', '.join(planted[:5])}; "
            "Nightshift runs no git in a tree that holds another repository"
        )
        _finish(ctx, ticket_id, TicketState.FAILED, reason)
        ctx.workspaces.remove(ctx.batch_id, ticket_id)
        return Decision(action="fail", reason=f"{ticket_id}: {reason}")

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
    if result.status == "failed" and ctx.window_end is not None and ctx.clock() >= ctx.window_end:
        return stopped_at_window(ctx, ticket_id, checkpoint)
    if result.status == "failed":
        _finish(ctx, ticket_id, TicketState.FAILED, f"{checkpoint.value} failed: {result.reason}")
        ctx.workspaces.remove(ctx.batch_id, ticket_id)
        return Decision(action="fail", reason=f"{ticket_id} {checkpoint.value} failed: {result.reason}")
    if checkpoint == Checkpoint.C2:
        if result.status not in ("ok", "partial"):
            _finish(ctx, ticket_id, TicketState.FAILED, f"C2 answered {result.status}: {result.reason}")
            return Decision(action="fail", reason=f"{ticket_id} C2 answered {result.status}")
        return _commit_and_push(ctx, ticket_id, workspace, base, result)
    ctx.state.save_checkpoint(ticket_id, result)
    return Decision(
        action="continue", reason=f"{checkpoint.value} {result.status}", data={"status": result.status}
    )


def _store_evidence(
    ctx: GenerationContext, ticket_id: str, checkpoint: Checkpoint, attempt: str, run_dir: Path
) -> None:
    """Copy the run folder into the batch artifacts. Names the artifact store would refuse (spaces,
    leading dots, non-ASCII) are encoded, deterministically; links are never followed (a link the
    agent planted must not copy a host file into the artifacts)."""
    base = ctx.state.run_dir_name(ticket_id, checkpoint, attempt)
    renamed: dict[str, str] = {}
    for path in sorted(run_dir.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 8 * 1024 * 1024:
            continue
        rel = path.relative_to(run_dir).as_posix()
        safe = "/".join(evidence_name(part) for part in rel.split("/"))
        if safe != rel:
            renamed[safe] = rel
        ctx.state.artifacts.write_text(f"{base}/{safe}", path.read_text(encoding="utf-8", errors="replace"))
    if renamed:
        ctx.state.artifacts.write_json(f"{base}/evidence-names.json", renamed)


def evidence_name(part: str) -> str:
    """A file name the artifact store accepts: unchanged when already safe, else `b32-<base32>` (or
    `sha-<digest>` when that is too long). Deterministic, so a retried store overwrites, never adds."""
    if _SAFE_PART.match(part) and part not in (".", "..") and part != "evidence-names.json":
        return part
    encoded = "b32-" + base64.b32encode(part.encode("utf-8", "surrogateescape")).decode().rstrip("=").lower()
    if len(encoded) <= 128:
        return encoded
    return "sha-" + hashlib.sha256(part.encode("utf-8", "surrogateescape")).hexdigest()


def _commit_and_push(
    ctx: GenerationContext,
    ticket_id: str,
    workspace: Path,
    base: str,
    result: CheckpointResult,
) -> Decision:
    """Commit the agent's change, fence the real diff, record the commit, then push it.

    Nothing is pushed when the fence finds anything: the ticket goes to the morning queue with the
    findings. The commit is recorded (and C2 saved) before the push, so a push that fails is retried
    from the record by the next try, without the agent."""
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
    try:
        sha = commit_all(workspace, message, when=created, identity=ctx.identity)
    except (NestedRepositoryError, GitlinkError) as exc:
        _finish(ctx, ticket_id, TicketState.FAILED, f"C2 refused: {exc}")
        ctx.workspaces.remove(ctx.batch_id, ticket_id)
        return Decision(action="fail", reason=f"{ticket_id} C2 refused: {exc}")
    if sha is None:
        _finish(ctx, ticket_id, TicketState.FAILED, "C2 finished without changing any file")
        ctx.workspaces.remove(ctx.batch_id, ticket_id)
        return Decision(action="fail", reason=f"{ticket_id}: C2 made no change")
    findings = check_diff(workspace, resolve_commit(workspace, base), sha, ctx.fence)
    if findings:
        return _escalate_fence(ctx, ticket_id, findings)
    claim = ctx.state.branch_claim(ticket_id)
    record = PushRecord(
        ticket_id=ticket_id,
        branch=agent_branch(ticket_id),
        sha=sha,
        base_branch=base,
        checkpoint_trailer="C2-partial" if partial else "C2-complete",
        expected_remote=claim.remote_sha if claim is not None else None,
        pushed=False,
    )
    if not ctx.dry_run:
        keep_commit(workspace, f"{ctx.batch_id}/{ticket_id}", sha)
    ctx.state.save_push(record)
    ctx.state.save_checkpoint(ticket_id, result)
    if not ctx.dry_run and (refused := _push(ctx, ticket_id, record)) is not None:
        return refused
    return Decision(action="continue", reason=f"C2 {result.status}", data={"status": result.status})


def _push(ctx: GenerationContext, ticket_id: str, record: PushRecord) -> Decision | None:
    """Push the recorded commit from the mirror (objects only, never the agent's tree) with a lease on
    the head the branch claim found; None when the forge has it. A branch that moved to someone
    else's commit since the claim fails the ticket instead of being overwritten."""
    repo = ctx.repository(ctx.manifest.ticket(ticket_id))
    remote = remote_branch_sha(repo.git_url, record.branch, repo.auth)
    if remote != record.sha:
        expected = record.expected_remote
        if remote != expected:
            head = ctx.workspaces.remote_head(repo.fetch_url, record.branch)
            if head is not None and not _is_ours(ctx, head):
                reason = (
                    f"{record.branch} on the forge is at {head.sha[:12]} ({_whose(head)}), a commit "
                    "Nightshift did not push in this batch; refusing to overwrite it"
                )
                _finish(ctx, ticket_id, TicketState.FAILED, reason)
                ctx.workspaces.remove(ctx.batch_id, ticket_id)
                return Decision(action="fail", reason=f"{ticket_id}: {reason}")
            expected = head.sha if head is not None else None
        mirror = ctx.workspaces.mirror(repo.fetch_url)
        push_agent_branch(mirror, repo.git_url, ticket_id, record.sha, expected, repo.auth)
    ctx.state.save_push(record.model_copy(update={"pushed": True}))
    return None


def _escalate_fence(ctx: GenerationContext, ticket_id: str, findings: list[FenceFinding]) -> Decision:
    """The pre-push fence found something: nothing is pushed; the ticket joins the morning queue with
    the findings (file, line, rule), and the tracker hears why."""
    reasons = [f"pre-push fence: {f.reason()}" for f in findings]
    return _queue_escalation(ctx, ticket_id, reasons, texts.fence_comment(ctx.batch_id, ticket_id, reasons))


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
    return _queue_escalation(
        ctx, ticket_id, reasons, texts.escalation_comment(ctx.batch_id, ticket_id, reasons)
    )


def _queue_escalation(ctx: GenerationContext, ticket_id: str, reasons: list[str], comment: str) -> Decision:
    """Put the ticket in the morning queue (with its C0/C1 context), tell the tracker once, finish it."""
    entry = ctx.manifest.ticket(ticket_id)
    ctx.state.save_escalation(
        Escalation(
            ticket_id=ticket_id,
            batch_id=ctx.batch_id,
            reasons=reasons,
            scope=ctx.state.checkpoint_result(ticket_id, Checkpoint.C0),
            plan=ctx.state.checkpoint_result(ticket_id, Checkpoint.C1),
            ticket_url=entry.url,
            title=entry.title or ctx.ticket_record(ticket_id).title,
        )
    )
    found = _tracker_for(ctx, ticket_id)
    if found is not None:
        tracker, key = found
        tracker.comment_once(
            key, marker_key(batch=ctx.batch_id, ticket=ticket_id, kind="escalation"), comment
        )
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


def mr_description(
    ctx: GenerationContext, ticket: Ticket, url: str | None, followup: str | None = None
) -> str:
    """The draft MR's description (built in nightshift.publish.texts, agent text guarded)."""
    return texts.mr_description(
        followup=followup,
        batch_id=ctx.batch_id,
        ticket_id=ticket.id,
        url=url,
        scope=ctx.state.checkpoint_result(ticket.id, Checkpoint.C0),
        plan=ctx.state.checkpoint_result(ticket.id, Checkpoint.C1),
        impl=ctx.state.checkpoint_result(ticket.id, Checkpoint.C2),
        marker=marker_key(batch=ctx.batch_id, ticket=ticket.id, kind="mr"),
    )


def publish(ctx: GenerationContext, ticket_id: str) -> Decision:
    """Open (or update) the draft MR; for a partial result, create the follow-up ticket once. One run
    of the ticket at a time (as for checkpoints): a concurrent second run finds this one's outcome."""
    with ticket_lock(ctx.state.artifacts, ticket_id):
        return _publish(ctx, ticket_id)


def _publish(ctx: GenerationContext, ticket_id: str) -> Decision:
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
    if impl is None or (not ctx.dry_run and (push is None or not push.pushed)):
        raise RuntimeError(f"{ticket_id}: nothing to publish (C2 result or pushed commit missing)")
    branch = push.branch if push is not None else agent_branch(ticket_id)
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
        # A re-run knows the follow-up already: the description it sends is the final one (no flip-flop).
        known = _known_followup(ctx, ticket_id) if partial else None
        description = mr_description(ctx, ticket, entry.url, known.key if known else None)
        mr = forge.upsert_draft_mr(branch, target, title, description, labels)
        mr_url, mr_iid = mr.web_url, mr.iid
        if partial:
            followup = _create_followup(ctx, ticket_id, ticket, entry, mr_url, remaining)
            if followup is not None and (known is None or known.key != followup):
                description = mr_description(ctx, ticket, entry.url, followup)
                forge.upsert_draft_mr(branch, target, title, description, labels)  # links the follow-up
            _mark_partial(ctx, ticket_id, mr_url, followup)
    state = TicketState.PARTIAL if partial else TicketState.COMPLETED
    outcome = _finish(
        ctx,
        ticket_id,
        state,
        impl.reason or ("partial: " + "; ".join(remaining) if partial else "draft MR ready"),
        branch=branch,
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


# -- the night's end (issue 12): generation stops when the gates window opens ----------------------------
def checkpoint_budget(ctx: GenerationContext, ticket_id: str, now: dt.datetime) -> dt.timedelta:
    """How long the next checkpoint may run: its own timeout, capped by what is left of the ticket's."""
    deadline = ctx.state.deadline(ticket_id, now)
    left = (deadline - now) if deadline is not None else None
    own = dt.timedelta(seconds=ctx.limits.timeout_seconds) if ctx.limits else None
    budgets = [b for b in (left, own) if b is not None]
    return min(budgets) if budgets else dt.timedelta(0)


def last_recorded_checkpoint(ctx: GenerationContext, ticket_id: str) -> str:
    recorded = [cp.value for cp in Checkpoint if ctx.state.checkpoint_result(ticket_id, cp) is not None]
    return recorded[-1] if recorded else "none"


def _carry_over_for_window(ctx: GenerationContext, ticket_id: str, why: str) -> Decision:
    assert ctx.window_end is not None
    reason = (
        f"{why} before the gates window at {ctx.window_end:%Y-%m-%d %H:%M}Z; last recorded checkpoint: "
        f"{last_recorded_checkpoint(ctx, ticket_id)}; carried over to the next batch"
    )
    outcome = _finish(ctx, ticket_id, TicketState.CARRIED_OVER, reason)
    return Decision(action="skip", reason=f"{ticket_id} carried over: {outcome.reason}")


def window_decision(ctx: GenerationContext, ticket_id: str, checkpoint: Checkpoint) -> Decision | None:
    """None when `checkpoint` can finish before the gates window, judged by its timeout; otherwise the
    ticket is carried over now rather than started and cut off: the night has an end."""
    if ctx.window_end is None:
        return None
    now = ctx.clock()
    budget = checkpoint_budget(ctx, ticket_id, now)
    if now + budget <= ctx.window_end:
        return None
    return _carry_over_for_window(ctx, ticket_id, f"{checkpoint.value} (timeout {budget}) could not finish")


def stopped_at_window(ctx: GenerationContext, ticket_id: str, checkpoint: Checkpoint) -> Decision:
    """The agent was still running when the gates window opened: the runner stopped it there."""
    ctx.workspaces.remove(ctx.batch_id, ticket_id)
    return _carry_over_for_window(ctx, ticket_id, f"{checkpoint.value} was stopped: it had not finished")


# -- too complex: the partial result's follow-up and the original marked partial ------------------------
def _known_followup(ctx: GenerationContext, ticket_id: str) -> FollowupFile | None:
    return ctx.state.artifacts.read_model(layout.followup_record(ticket_id), FollowupFile)


def _create_followup(
    ctx: GenerationContext,
    ticket_id: str,
    ticket: Ticket,
    entry: ManifestTicket,
    mr_url: str | None,
    remaining: list[str],
) -> str | None:
    """The follow-up ticket for the remainder, created once: in the ticket's tracker, or as a ticket file
    in the outbox for a file ticket. Recorded in the batch so the MR can link it from its first send."""
    marker = marker_key(batch=ctx.batch_id, ticket=ticket_id, kind="followup")
    title = texts.followup_title(ticket_id, ticket.title)
    body = texts.followup_body(ctx.batch_id, ticket_id, mr_url, remaining)
    found = _tracker_for(ctx, ticket_id)
    if found is not None:
        tracker, key = found
        made = FollowupFile(ticket_id=ticket_id, key=tracker.create_followup_once(key, marker, title, body))
    else:
        folders = ctx.followup_folders(ctx.record(ticket_id))
        if folders is None:
            return None
        outbox, scan = folders
        made = write_followup_file(
            outbox,
            original_id=ticket_id,
            batch_id=ctx.batch_id,
            title=title,
            body=body,
            marker=marker,
            scan=scan,
            priority=entry.priority,
            repository=entry.repository,
            base_branch=entry.base_branch,
        )
    ctx.state.artifacts.write_model(layout.followup_record(ticket_id), made)
    return made.key


def _mark_partial(ctx: GenerationContext, ticket_id: str, mr_url: str | None, followup: str | None) -> None:
    """The spec's "marks original as 'partial'": one comment (partial MR and follow-up) and the label."""
    found = _tracker_for(ctx, ticket_id)
    if found is None:
        return  # a file ticket: its outcome record and the morning dashboard say partial
    tracker, key = found
    body = texts.partial_comment(ctx.batch_id, ticket_id, mr_url, followup, ctx.partial_label)
    tracker.comment_once(key, marker_key(batch=ctx.batch_id, ticket=ticket_id, kind="partial"), body)
    tracker.ensure_labels(key, add=[ctx.partial_label], remove=[ctx.ready_label])
