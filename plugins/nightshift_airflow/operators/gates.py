"""Stage 3 (06:00): which tickets get gates, and the per-ticket gate check. Thin shells over
nightshift.gates.stage; the context (forge, tracker, links) is built here at run time."""

from __future__ import annotations

from typing import Any

from airflow.sdk.definitions.context import Context
from airflow.sdk.exceptions import AirflowSkipException

from nightshift.config import TICKET_TASK_ID
from nightshift_airflow.connections import NightshiftOperator
from nightshift_airflow.links import MergeRequestLink

#: The generation task whose log (one group per step: C0, C1, C2, the MR) the score note links to.
LOGGED_STEPS = {"Generation": TICKET_TASK_ID}


def gate_context(context: Context, config: Any = None) -> tuple[Any, str]:
    """The core's GateContext for this task, and the GitLab connection id it publishes through.
    `config`: the operator's (its connection ids); default the deployment's."""
    from airflow.configuration import conf

    from nightshift.config import cached_config
    from nightshift.forge.gate_publish import GateForge
    from nightshift.gates.stage import GateContext
    from nightshift.review.links import task_log_url
    from nightshift_airflow.hooks.gitlab import GitLabHook
    from nightshift_airflow.runtime import generation_context

    config = config or cached_config()
    gen = generation_context(context, config)  # manifest, records, repositories, trackers: as in generation
    conn_id = config.forge.gitlab_conn_id
    hook = GitLabHook(gitlab_conn_id=conn_id)
    base_url = conf.get("api", "base_url", fallback="") or None
    dag_run, ti = context["dag_run"], context["ti"]
    order: list[str] = ti.xcom_pull(task_ids="start_generation") or []

    def task_logs(ticket_id: str) -> dict[str, str]:
        if base_url is None or ticket_id not in order:
            return {}
        index = order.index(ticket_id)
        return {
            name: task_log_url(base_url, dag_run.dag_id, dag_run.run_id, task_id, index)
            for name, task_id in LOGGED_STEPS.items()
        }

    ctx = GateContext(
        manifest=gen.manifest,
        state=gen.state,
        workspaces=gen.workspaces,
        record=gen.record,
        repository=gen.repository,
        forge=lambda repo: GateForge(hook.get_conn(), repo.path, connection_id=conn_id),
        tracker=gen.tracker,
        airflow_base_url=base_url,
        task_logs=task_logs,
        dry_run=gen.dry_run,
        gate_config=lambda repo_dir: config.gates,
    )
    return ctx, conn_id


def tickets_to_gate(state: Any, manifest: Any, dry_run: bool = False) -> tuple[list[str], list[str]]:
    """The gates group's rows, in manifest order: tickets with a draft MR from a pushed commit, and
    tickets with no outcome yet. The second kind is still in generation when the gates window opens
    (a C2 that finished just before it and is now pushing or opening its MR, or a ticket about to be
    carried over): its row waits for the outcome, then gates the MR or skips with the outcome's reason.
    So an MR published after this task ran still gets gates. Tickets already ended without an MR
    (failed, carried over, escalated) have their reason in their outcome and get no row. An outcome
    is final once written, except a dry run's, which a real run replaces: that counts as none yet. A
    dry run publishes nothing, so it waits for nobody."""
    from nightshift.gates.stage import gate_ticket_ids

    gated = set(gate_ticket_ids(state, manifest))
    pending = set() if dry_run else {t for t in manifest.ticket_ids if not_final(state.outcome(t))}
    rows = [t for t in manifest.ticket_ids if t in gated or t in pending]
    return rows, [t for t in rows if t in pending]


def not_final(outcome: Any) -> bool:
    """No outcome yet, or only a dry run's (a real run replaces it)."""
    return outcome is None or outcome.dry_run


class GateTicketsOperator(NightshiftOperator):
    """The tickets to gate, in manifest order: the gates group's rows (see tickets_to_gate)."""

    ui_color = "#f3e5f5"

    def execute(self, context: Context) -> list[str]:
        ctx, _ = gate_context(context, self.nightshift_config())
        ids, pending = tickets_to_gate(ctx.state, ctx.manifest, dry_run=ctx.dry_run)
        self.log.info("batch %s: gates for %d ticket(s): %s", ctx.batch_id, len(ids), ", ".join(ids) or "-")
        if pending:
            self.log.info(
                "batch %s: still in generation, their gates wait for the outcome: %s",
                ctx.batch_id,
                ", ".join(pending),
            )
        return ids


class GatesOperator(NightshiftOperator):
    """Runs the gates on one ticket's pushed commit (sandboxed tests: in the agents pool), stores the
    report and publishes it on the MR and the ticket. Safe to retry or clear: every write is an upsert."""

    template_fields = ("ticket_id",)
    operator_extra_links = (MergeRequestLink(),)
    ui_color = "#f3e5f5"

    def __init__(self, *, ticket_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ticket_id = ticket_id

    def execute(self, context: Context) -> Any:
        from nightshift.gates.stage import gate_ticket

        ctx, _ = gate_context(context, self.nightshift_config())
        outcome = ctx.state.outcome(self.ticket_id)
        context["ti"].xcom_push(key="merge_request_url", value=(outcome and outcome.merge_request_url) or "")
        decision = gate_ticket(ctx, self.ticket_id)
        self.log.info("%s", decision.reason)
        if decision.action == "skip":
            raise AirflowSkipException(decision.reason)
        return decision.data
