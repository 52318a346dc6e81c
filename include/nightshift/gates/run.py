"""The one entry point of the gates: `run_gates` (used by the command line and by the Airflow task).

It reads the repository's objects only (diffs and files come from git, checks run on private checkouts
in a scratch folder it removes), so it is idempotent: the same commits and config give the same checks,
flags and score. The pipeline check is passed in by the caller that waited for GitLab.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nightshift.agents.contract import ImplementResult, PlanResult
from nightshift.gates.checks import CheckContext, CheckOutcome, run_check
from nightshift.gates.checks.lint import check_lint
from nightshift.gates.checks.scope import check_scope
from nightshift.gates.checks.secrets import check_secrets
from nightshift.gates.checks.security import check_security
from nightshift.gates.checks.test_changes import check_test_changes
from nightshift.gates.checks.tests import check_tests
from nightshift.gates.config import REPO_LOCAL_FILE, GatesConfig
from nightshift.gates.diff import read_diff, resolve, show_text
from nightshift.gates.report import GateReport
from nightshift.gates.score import compute_score
from nightshift.gates.summary import SummaryLinks, render_summary
from nightshift.models import Ticket

log = logging.getLogger(__name__)

#: The checks in the order they run and appear in the report (pipeline comes from the caller).
CHECKS: dict[str, Callable[[CheckContext], CheckOutcome]] = {
    "tests": check_tests,
    "test_changes": check_test_changes,
    "lint": check_lint,
    "security": check_security,
    "secrets": check_secrets,
    "scope": check_scope,
}
#: Checks that read git only: their timeout is enforced around them (the others time their tools).
_BOUNDED_HERE = frozenset({"test_changes", "secrets", "scope"})
#: Checks run in threads beside the rest (run_check never raises: a crash or timeout is a not_run).
_CONCURRENT = frozenset({"tests", "security"})
NO_PIPELINE = "no pipeline status was given (the command line does not wait for GitLab)"


def effective_config(repo: Path, base: str, config: GatesConfig, ticket: Ticket | None) -> GatesConfig:
    """The deployment config, its block for the ticket's repository, then the repository's own
    `.nightshift/gates.yaml` as it is at the BASE (a change cannot relax its own gates)."""
    config = config.for_repository(ticket.repository if ticket else None)
    return config.with_repo_local(show_text(repo, base, REPO_LOCAL_FILE))


def _run_one(name: str, ctx: CheckContext, cfg: GatesConfig) -> CheckOutcome:
    timeout = getattr(cfg.timeouts, name) if name in _BOUNDED_HERE else None
    outcome = run_check(name, CHECKS[name], ctx, timeout=timeout)
    log.info(
        "gate %s: %s (%s) in %.1fs",
        name,
        outcome.result.status,
        outcome.result.reason,
        outcome.result.duration_s,
    )
    return outcome


def _run_checks(ctx: CheckContext, cfg: GatesConfig, only: Sequence[str] | None) -> list[CheckOutcome]:
    """Every check, in CHECKS order in the result. The tests check (the suite in the sandbox) and the
    security check (bandit's and semgrep's start-up) mostly wait on their processes: each runs in its
    own thread while the others run here one after another, so the gates take about as long as the
    longest of the three, not their sum. Each check keeps its own time budget; they share the read-only
    repository, ctx.tree (locked) and nothing else (each has its own scratch folder)."""
    selected = [name for name in CHECKS if only is None or name in only]
    background = [name for name in selected if name in _CONCURRENT]
    done: dict[str, CheckOutcome] = {}
    with ThreadPoolExecutor(max_workers=max(len(background), 1), thread_name_prefix="gates") as pool:
        futures = {name: pool.submit(_run_one, name, ctx, cfg) for name in background}
        for name in selected:
            if name not in futures:
                done[name] = _run_one(name, ctx, cfg)
        done.update({name: future.result() for name, future in futures.items()})
    return [done[name] if name in done else CheckOutcome.not_run(name, "not selected") for name in CHECKS]


def run_gates(
    repo_dir: Path | str,
    base: str,
    head: str,
    ticket: Ticket | None = None,
    config: GatesConfig | None = None,
    *,
    batch_id: str | None = None,
    claimed_success: bool = True,
    pipeline: CheckOutcome | None = None,
    toolchain: Path | None = None,
    test_command: str | None = None,
    scratch_dir: Path | None = None,
    plan: PlanResult | None = None,
    implementation: ImplementResult | None = None,
    links: SummaryLinks | None = None,
    merge_request_url: str | None = None,
    only: Sequence[str] | None = None,
) -> GateReport:
    """Run every check on base...head of the repository at `repo_dir` and build the gate report.

    The report's `base` is the merge base the change is measured from. `pipeline` is the pipeline
    check's outcome (checks.pipeline.pipeline_outcome) from a caller that waited for GitLab; without it
    the check is not_run. `toolchain` and `test_command` are operator overrides (the command line's
    --toolchain and --test-command): they win over every config, the repository's file included.
    `only` restricts the checks (the others are not_run), for tests and operators.
    Raises RevisionError (a ValueError) when base or head is not a commit, ValueError for a bad config.
    """
    repo = Path(repo_dir).resolve()
    base_sha = resolve(repo, base)
    cfg = effective_config(repo, base_sha, config or GatesConfig(), ticket)
    if test_command:
        cfg = cfg.model_copy(update={"tests": cfg.tests.model_copy(update={"command": test_command})})
    diff = read_diff(repo, base_sha, head)
    if scratch_dir is not None:
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="nightshift-gates-", dir=scratch_dir))
    try:
        ctx = CheckContext(
            repo=repo,
            diff=diff,
            config=cfg,
            scratch=scratch,
            ticket=ticket,
            claimed_success=claimed_success,
            toolchain=Path(toolchain).resolve() if toolchain else None,
        )
        outcomes = _run_checks(ctx, cfg, only)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    from nightshift.gates.checks.pipeline import NAME as PIPELINE

    outcomes.append(pipeline or CheckOutcome.not_run(PIPELINE, NO_PIPELINE))
    checks = [o.result for o in outcomes]
    flags = [
        f if f.check else f.model_copy(update={"check": o.result.name}) for o in outcomes for f in o.flags
    ]
    score = compute_score(checks, flags, cfg)
    report = GateReport(
        batch_id=batch_id,
        ticket_id=ticket.id if ticket else None,
        base=diff.base,
        head=diff.head,
        score=score.value,
        checks=checks,
        flags=flags,
        breakdown=score.breakdown,
        checks_counted=score.checks_counted,
        capped_by=score.capped_by,
        files_changed=diff.paths,
        lines_added=diff.lines_added,
        lines_removed=diff.lines_removed,
        merge_request_url=merge_request_url,
    )
    summary = render_summary(report, ticket=ticket, plan=plan, implementation=implementation, links=links)
    return report.model_copy(update={"summary_markdown": summary})
