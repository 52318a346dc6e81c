"""The gates stage (06:00) as plain, repeatable steps; the Airflow operators are thin shells over them.

    gate_ticket_ids -> per ticket: pipeline_target -> (wait for CI: a deferrable sensor) -> save_pipeline
                    -> check_ticket (fresh worktree of the pushed commit, run_gates, gates.json)
                    -> publish_ticket (MR note, labels, commit status; one ticket comment)

Records in the batch folder (see generation/state.py for the pattern):

    tickets/<ID>/gates-pipeline.json     the MR pipeline's result as a check (written after the wait)
    tickets/<ID>/gates.json              the gate report (GateReport); a re-run overwrites it

Every step is safe to repeat: the report is one record per ticket, the worktree lives in its own
namespace (`<batch>-gates`) and is removed afterwards, and every forge or tracker write is an upsert.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from nightshift import layout
from nightshift.agents.contract import Checkpoint, ImplementResult, PlanResult
from nightshift.forge.gate_publish import GateLinks, GatePublication, StatusState, render_note, status_state
from nightshift.forge.git import run_git
from nightshift.gates.report import CheckResult, Flag, GateReport, load_report
from nightshift.gates.summary import with_usage
from nightshift.generation.flow import Decision, Repository, Workspaces
from nightshift.generation.state import BatchState, PushRecord, TicketOutcome
from nightshift.generation.usage import ticket_usage
from nightshift.intake.records import IntakeRecord
from nightshift.models import BatchManifest, ManifestTicket, Ticket, TicketState
from nightshift.review.links import review_page_url
from nightshift.trackers.base import Tracker, marker_key

#: A score at or above this passes the `nightshift/gates` commit status (the low band starts below it).
DEFAULT_PASS_SCORE = 70
#: Pipeline states that end a wait; the rest (created, pending, running, ...) keep it going.
FINISHED_PIPELINE = {"success": "passed", "failed": "failed", "canceled": "failed", "skipped": "not_run"}


class GateInputs(BaseModel):
    """What the stage knows beyond the commits: handed to the gates core for the report and summary."""

    batch_id: str
    pipeline: CheckResult | None = None
    plan: PlanResult | None = None
    implementation: ImplementResult | None = None
    links: GateLinks = Field(default_factory=GateLinks)
    merge_request_url: str | None = None


class GateRunner(Protocol):
    """Runs every check on base...head of the repository at repo_dir (core_run_gates, or a test's)."""

    def __call__(
        self, repo_dir: Path, base: str, head: str, ticket: Ticket, config: Any, inputs: GateInputs
    ) -> GateReport: ...


class GatePublisher(Protocol):
    """nightshift.forge.gate_publish.GateForge, as the stage uses it."""

    def publish(
        self,
        report: GateReport,
        *,
        mr_iid: int,
        marker_key: str,
        note: str,
        state: StatusState,
        target_url: str | None,
    ) -> GatePublication: ...


def core_run_gates(
    repo_dir: Path, base: str, head: str, ticket: Ticket, config: Any, inputs: GateInputs
) -> GateReport:
    """nightshift.gates.run.run_gates, the one entry point the command line shares, in its own terms."""
    from nightshift.gates.checks import CheckOutcome
    from nightshift.gates.run import run_gates
    from nightshift.gates.summary import SummaryLinks

    pipeline = None
    if inputs.pipeline is not None:
        failed = inputs.pipeline.status == "failed"
        flags = [Flag(kind="pipeline_failed", message=inputs.pipeline.reason)] if failed else []
        pipeline = CheckOutcome(inputs.pipeline, flags)
    links = SummaryLinks(
        review_page=inputs.links.review_page,
        ticket=inputs.links.ticket,
        merge_request=inputs.merge_request_url,
        task_logs=inputs.links.task_logs,
    )
    report: GateReport = run_gates(
        repo_dir,
        base,
        head,
        ticket,
        config,
        batch_id=inputs.batch_id,
        pipeline=pipeline,
        plan=inputs.plan,
        implementation=inputs.implementation,
        links=links,
        merge_request_url=inputs.merge_request_url,
    )
    return report


class PipelineTarget(BaseModel):
    """What the CI wait needs (serialisable into a trigger): which MR, which head commit."""

    ticket_id: str
    project: str
    mr_iid: int
    sha: str


@dataclass
class GateContext:
    """Everything a gates step needs; built by the Airflow layer (hooks, config) or by tests."""

    manifest: BatchManifest
    state: BatchState
    workspaces: Workspaces
    record: Callable[[str], IntakeRecord]
    repository: Callable[[ManifestTicket], Repository]
    run_gates: GateRunner = core_run_gates
    gate_config: Callable[[Path], Any] = lambda repo_dir: None
    forge: Callable[[Repository], GatePublisher] | None = None
    tracker: Callable[[IntakeRecord], Tracker | None] = lambda record: None
    airflow_base_url: str | None = None
    task_logs: Callable[[str], dict[str, str]] = lambda ticket_id: {}
    pass_score: int = DEFAULT_PASS_SCORE
    dry_run: bool = False

    @property
    def batch_id(self) -> str:
        return self.manifest.batch_id

    @property
    def gates_namespace(self) -> str:
        """Worktrees of the gates live apart from the generation's (`<batch>-gates`)."""
        return f"{self.batch_id}-gates"


def load_gate_report(state: BatchState, ticket_id: str) -> GateReport | None:
    text = state.artifacts.read_text(layout.gate_report(ticket_id))
    return None if text is None else load_report(text)


# --------------------------------------------------------------------------------------------------------
def gated(outcome: TicketOutcome | None, push: PushRecord | None) -> bool:
    """A ticket gets gates when it ended with a draft MR (completed or partial) from a pushed commit.
    Dry runs push nothing and open no MR, so they have nothing to gate."""
    return (
        outcome is not None
        and outcome.state in (TicketState.COMPLETED, TicketState.PARTIAL)
        and not outcome.dry_run
        and push is not None
    )


def gate_ticket_ids(state: BatchState, manifest: BatchManifest) -> list[str]:
    """The tickets to gate, in manifest order (the mapped gates group's rows)."""
    return [t for t in manifest.ticket_ids if gated(state.outcome(t), state.push_record(t))]


def _gated_or_skip(ctx: GateContext, ticket_id: str) -> tuple[TicketOutcome, PushRecord] | Decision:
    outcome, push = ctx.state.outcome(ticket_id), ctx.state.push_record(ticket_id)
    if not gated(outcome, push) or outcome is None or push is None:
        why = outcome.state.value if outcome else "no outcome"
        return Decision(action="skip", reason=f"{ticket_id}: nothing to gate ({why}, no pushed MR)")
    return outcome, push


def pipeline_target(ctx: GateContext, ticket_id: str) -> PipelineTarget | Decision:
    found = _gated_or_skip(ctx, ticket_id)
    if isinstance(found, Decision):
        return found
    outcome, push = found
    if outcome.merge_request_iid is None:
        return Decision(action="skip", reason=f"{ticket_id}: no merge request on record")
    repo = ctx.repository(ctx.manifest.ticket(ticket_id))
    return PipelineTarget(
        ticket_id=ticket_id, project=repo.path, mr_iid=outcome.merge_request_iid, sha=push.sha
    )


def pipeline_check(event: dict[str, Any], timeout_minutes: float) -> CheckResult:
    """The pipeline check from what the wait saw. A pipeline that never finished, or none at all, is
    not_run with the reason: never counted as passed, never as zero."""
    status = event.get("status")
    url = event.get("web_url") or ""
    waited = float(event.get("waited_s") or 0.0)  # > 0: the wait went through the triggerer
    details: dict[str, int | float | str | bool | None] = {
        "pipeline_id": event.get("pipeline_id"),
        "web_url": url,
        "waited_s": waited,
    }
    if event.get("timed_out"):
        return CheckResult(
            name="pipeline",
            status="not_run",
            reason=f"pipeline did not finish in {timeout_minutes:g} min (last status: {status or 'none'})",
            details=details,
        )
    if status is None:
        return CheckResult(name="pipeline", status="not_run", reason="no pipeline for the MR head")
    verdict = FINISHED_PIPELINE.get(str(status), "not_run")
    return CheckResult(
        name="pipeline",
        status=verdict,  # type: ignore[arg-type]
        reason=f"pipeline {status}",
        details=details,
        duration_s=waited,
    )


def save_pipeline(ctx: GateContext, ticket_id: str, result: CheckResult) -> None:
    ctx.state.artifacts.write_model(layout.gate_pipeline(ticket_id), result)


def saved_pipeline(ctx: GateContext, ticket_id: str) -> CheckResult | None:
    return ctx.state.artifacts.read_model(layout.gate_pipeline(ticket_id), CheckResult)


# --------------------------------------------------------------------------------------------------------
def _base_commit(workspace: Path, target_branch: str | None, sha: str) -> str:
    """The commit the MR's diff starts from: the merge base with the target branch as the forge has it,
    else the pushed commit's parent (the pipeline pushes one commit per ticket)."""
    if target_branch:
        found = run_git(["merge-base", f"refs/remotes/origin/{target_branch}", sha], workspace, check=False)
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    return run_git(["rev-parse", f"{sha}^"], workspace).stdout.strip()


def check_ticket(ctx: GateContext, ticket_id: str) -> Decision:
    """Run the gates on a fresh worktree of the pushed commit and store the report (overwriting an
    earlier one: the record is the latest verdict on that commit)."""
    found = _gated_or_skip(ctx, ticket_id)
    if isinstance(found, Decision):
        return found
    outcome, push = found
    entry = ctx.manifest.ticket(ticket_id)
    repo = ctx.repository(entry)
    namespace = ctx.gates_namespace
    workspace = ctx.workspaces.create(repo.fetch_url, ticket_id, push.sha, batch_id=namespace)
    try:
        base = _base_commit(workspace, outcome.target_branch, push.sha)
        pipeline = saved_pipeline(ctx, ticket_id)
        plan = ctx.state.checkpoint_result(ticket_id, Checkpoint.C1)
        impl = ctx.state.checkpoint_result(ticket_id, Checkpoint.C2)
        inputs = GateInputs(
            batch_id=ctx.batch_id,
            pipeline=pipeline,
            plan=plan.plan if plan else None,
            implementation=impl.implementation if impl else None,
            links=links(ctx, ticket_id),
            merge_request_url=outcome.merge_request_url,
        )
        started = time.monotonic()
        ticket = ctx.record(ticket_id).ticket
        report = ctx.run_gates(workspace, base, push.sha, ticket, ctx.gate_config(workspace), inputs)
    finally:
        ctx.workspaces.remove(namespace, ticket_id)
    report = _with_pipeline(report, pipeline).model_copy(
        update={
            "batch_id": ctx.batch_id,
            "ticket_id": ticket_id,
            "merge_request_url": outcome.merge_request_url,
            # Agent tokens and cost (nightshift.generation.usage), added by the agents issue.
            "summary_markdown": with_usage(report.summary_markdown, ticket_usage(ctx.state, ticket_id)),
        }
    )
    ctx.state.artifacts.write_model(layout.gate_report(ticket_id), report)
    return Decision(
        action="continue",
        reason=(
            f"{ticket_id}: score {report.score}/100 ({report.band()}), "
            f"{len(report.flags)} flag(s), {report.checks_counted} checks counted, "
            f"{time.monotonic() - started:.1f}s"
        ),
        data={"score": report.score, "flags": sorted({f.kind for f in report.flags})},
    )


def _with_pipeline(report: GateReport, pipeline: CheckResult | None) -> GateReport:
    """Make sure the report carries the pipeline's result when the core did not take it in."""
    if pipeline is None or any(c.name == "pipeline" for c in report.checks):
        return report
    flags = list(report.flags)
    if pipeline.status == "failed":
        flags.append(Flag(kind="pipeline_failed", message=pipeline.reason))
    return report.model_copy(update={"checks": [*report.checks, pipeline], "flags": flags})


def links(ctx: GateContext, ticket_id: str) -> GateLinks:
    entry = ctx.manifest.ticket(ticket_id)
    return GateLinks(
        review_page=review_page_url(ctx.airflow_base_url, ctx.batch_id, ticket_id)
        if ctx.airflow_base_url
        else None,
        ticket=entry.url,
        task_logs=ctx.task_logs(ticket_id),
    )


def publish_ticket(ctx: GateContext, ticket_id: str) -> Decision:
    """The report on GitLab (note, labels, commit status) and one comment on the ticket."""
    found = _gated_or_skip(ctx, ticket_id)
    if isinstance(found, Decision):
        return found
    outcome, _ = found
    report = load_gate_report(ctx.state, ticket_id)
    if report is None:
        raise RuntimeError(
            f"{ticket_id}: no gate report ({layout.gate_report(ticket_id)}); run the check first"
        )
    if ctx.dry_run or ctx.forge is None or outcome.merge_request_iid is None:
        return Decision(action="continue", reason=f"{ticket_id}: report kept, nothing published (dry run)")
    where = links(ctx, ticket_id)
    repo = ctx.repository(ctx.manifest.ticket(ticket_id))
    published = ctx.forge(repo).publish(
        report,
        mr_iid=outcome.merge_request_iid,
        marker_key=marker_key(batch=ctx.batch_id, ticket=ticket_id, kind="gates"),
        note=render_note(report, where, ctx.batch_id),
        state=status_state(report, ctx.pass_score),
        target_url=where.review_page,
    )
    _comment_on_ticket(ctx, ticket_id, report, outcome, where)
    return Decision(
        action="continue",
        reason=f"{ticket_id}: published on !{outcome.merge_request_iid} ({published.status_state})",
        data={**published.model_dump(), "score": report.score},
    )


def _comment_on_ticket(
    ctx: GateContext, ticket_id: str, report: GateReport, outcome: TicketOutcome, where: GateLinks
) -> None:
    record = ctx.record(ticket_id)
    if record.tracker_key is None:
        return
    tracker = ctx.tracker(record)
    if tracker is None:
        return
    security = len(report.security_flags)
    body = (
        f"Nightshift batch {ctx.batch_id}: the draft merge request for {ticket_id} is ready for review: "
        f"{outcome.merge_request_url}\n\n"
        f"Quality score: {report.score}/100 ({report.band()}); security: "
        + (f"{security} flag(s)" if security else "OK")
        + (f"\n\nReview page: {where.review_page}" if where.review_page else "")
    )
    tracker.comment_once(
        record.tracker_key, marker_key(batch=ctx.batch_id, ticket=ticket_id, kind="gates"), body
    )


def gate_ticket(ctx: GateContext, ticket_id: str) -> Decision:
    """Check, then publish: the mapped `gates.check` task's whole job."""
    checked = check_ticket(ctx, ticket_id)
    if checked.action != "continue":
        return checked
    published = publish_ticket(ctx, ticket_id)
    return Decision(
        action="continue",
        reason=f"{checked.reason}; {published.reason}",
        data={**checked.data, **published.data},
    )
