"""Stage 3 (06:00): which tickets get gates, and the per-ticket gate check. Thin shells over
nightshift.gates.stage; the context (forge, tracker, links) is built here at run time."""

from __future__ import annotations

from typing import Any

from airflow.sdk.definitions.context import Context
from airflow.sdk.exceptions import AirflowSkipException

from nightshift_airflow.connections import NightshiftOperator
from nightshift_airflow.links import MergeRequestLink

#: The generation tasks whose logs the score note links to, by checkpoint.
LOGGED_STEPS = {"C0": "ticket.c0_scope", "C1": "ticket.c1_plan", "C2": "ticket.c2_implement"}


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


class GateTicketsOperator(NightshiftOperator):
    """The tickets to gate (a draft MR from a pushed commit), in manifest order: the gates group's rows."""

    ui_color = "#f3e5f5"

    def execute(self, context: Context) -> list[str]:
        from nightshift.gates.stage import gate_ticket_ids

        ctx, _ = gate_context(context, self.nightshift_config())
        ids = gate_ticket_ids(ctx.state, ctx.manifest)
        self.log.info("batch %s: gates for %d ticket(s): %s", ctx.batch_id, len(ids), ", ".join(ids) or "-")
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
