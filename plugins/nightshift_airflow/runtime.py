"""Builds the core's GenerationContext for a running task: config, artifact store, agent runner,
workspaces, and the forge and trackers through the Airflow hooks (so credentials come from Connections)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from airflow.sdk.definitions.context import Context

from nightshift import layout
from nightshift.agents.backends import build_runner
from nightshift.agents.contract import Limits
from nightshift.agents.runner import AgentRunner
from nightshift.agents.workspace import WorkspaceManager
from nightshift.artifacts import ArtifactStore, BatchArtifacts
from nightshift.config import NightshiftConfig, cached_config
from nightshift.forge.git import GitAuth
from nightshift.generation.batch import read_manifest
from nightshift.generation.flow import GenerationContext, Repository
from nightshift.generation.state import BatchState
from nightshift.intake.config import FilesSourceConfig, TrackerSourceConfig
from nightshift.intake.records import IntakeRecord
from nightshift.models import ManifestTicket
from nightshift.trackers.base import Tracker
from nightshift_airflow.batch import batch_id_from_context


def batch_artifacts(context: Context, config: NightshiftConfig | None = None) -> BatchArtifacts:
    config = config or cached_config()
    return ArtifactStore(config.artifacts_url).batch(batch_id_from_context(context))


def read_record(artifacts: BatchArtifacts, ticket_id: str) -> IntakeRecord:
    record = artifacts.read_model(layout.ticket_record(ticket_id), IntakeRecord)
    if record is None:
        raise RuntimeError(f"batch {artifacts.batch_id}: ticket {ticket_id} has no intake record")
    return record


def workspaces(config: NightshiftConfig) -> WorkspaceManager:
    """The worker's workspace manager (one per root, so its locks are shared within the process)."""
    return _workspaces(str(Path(config.workdir) / "workspaces"), config.agent.min_free_disk_mb)


@lru_cache(maxsize=8)
def _workspaces(root: str, min_free_mb: int) -> WorkspaceManager:
    return WorkspaceManager(Path(root), min_free_mb=min_free_mb)


def generation_context(context: Context, config: NightshiftConfig | None = None) -> GenerationContext:
    """`config`: the operator's (its connection ids: nightshift_airflow.connections), else deployed."""
    from nightshift_airflow.hooks.gitlab import GitLabHook
    from nightshift_airflow.hooks.trackers import tracker_for
    from nightshift_airflow.windows import window_opens

    config = config or cached_config()
    artifacts = batch_artifacts(context, config)
    manifest = read_manifest(artifacts)
    params = context.get("params") or {}
    gitlab = GitLabHook(gitlab_conn_id=config.forge.gitlab_conn_id)
    token = gitlab.get_connection(gitlab.gitlab_conn_id).password or ""
    auth = GitAuth(token=token) if token else None
    projects: dict[str, Repository] = {}

    def repository(entry: ManifestTicket) -> Repository:
        path = entry.repository
        if not path:
            raise RuntimeError(f"ticket {entry.id}: no repository in the manifest (intake routing)")
        if path not in projects:
            project = gitlab.get_conn().projects.get(path)
            projects[path] = Repository(
                path=path,
                git_url=project.http_url_to_repo,
                default_branch=project.default_branch or config.forge.default_branch,
                auth=auth,
            )
        return projects[path]

    trackers: dict[str, Tracker] = {}

    def tracker(record: IntakeRecord) -> Tracker | None:
        """The tracker (and connection) of the source the ticket was collected from, as in intake."""
        source = next((s for s in config.intake.sources if s.display_name == record.source), None)
        if not isinstance(source, TrackerSourceConfig):
            return None  # a file ticket (or a source no longer configured) has no tracker
        if source.display_name not in trackers:
            trackers[source.display_name] = tracker_for(source)
        return trackers[source.display_name]

    def followup_folders(record: IntakeRecord) -> tuple[Path, list[Path]] | None:
        """A file ticket's follow-up goes to intake.followup_folder, else beside its source's tickets."""
        from nightshift_airflow.hooks.trackers import sources_base

        source = next((s for s in config.intake.sources if s.display_name == record.source), None)
        if not isinstance(source, FilesSourceConfig):
            return None
        folder = source.path(sources_base())
        outbox = sources_base() / config.intake.followup_folder if config.intake.followup_folder else folder
        return outbox, [folder]

    agent = config.agent
    runner = build_runner(agent)
    register_connection_secrets(runner, config, token)
    return GenerationContext(
        manifest=manifest,
        state=BatchState(artifacts),
        runner=runner,
        workspaces=workspaces(config),
        record=lambda ticket_id: read_record(artifacts, ticket_id),
        repository=repository,
        forge=lambda repo: gitlab.get_forge(repo.path),
        tracker=tracker,
        policy=config.generation.escalation,
        limits=Limits(timeout_seconds=agent.timeout_seconds),
        dry_run=bool(params.get("dry_run", False)),
        labels=config.forge.labels,
        fence=config.forge.fence,
        budget=config.generation.budget,
        rate_limit_max_wait=config.generation.rate_limit_max_wait_delta,
        window_end=window_opens(context, "gates", config.windows),  # generation ends when gates open
        partial_label=config.intake.partial_label,
        ready_label=config.intake.ready_label,
        followup_folders=followup_folders,
    )


def register_connection_secrets(runner: AgentRunner, config: NightshiftConfig, *known: str) -> None:
    """Register the forge and tracker connections' secrets (password/token and the full URI) with the
    runner's redactor: connections stored in Airflow's database never appear in the environment, so
    the environment scan alone would miss them (issue 9, item 11)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    secrets: list[str | None] = list(known)
    conn_ids = {config.forge.gitlab_conn_id}
    trackers = [s for s in config.intake.sources if isinstance(s, TrackerSourceConfig)]
    conn_ids |= {s.connection_id for s in trackers if s.connection_id}
    for conn_id in sorted(conn_ids):
        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            continue  # the step that uses it fails with its own message
        secrets += [conn.password, conn.get_uri() if conn.password else None]
    runner.register_secrets(*secrets)
