"""The tracker behind an intake source, built from its Airflow connection: the hooks' job, shared by
intake (collect, validate) and generation (comments, follow-ups) so neither imports the other."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nightshift.intake.config import TrackerSourceConfig
from nightshift.trackers.base import Tracker


def _jira(source: TrackerSourceConfig) -> Tracker:
    from nightshift_airflow.hooks.jira import JiraHook

    return JiraHook(jira_conn_id=source.connection_id or "jira_default").get_tracker()


def _gitlab(source: TrackerSourceConfig) -> Tracker:
    from nightshift_airflow.hooks.gitlab import GitLabHook

    return GitLabHook(gitlab_conn_id=source.connection_id or "gitlab_default").get_tracker(source.projects)


#: Each tracker kind's hook (imported on use: a DAG parse loads neither client library).
_HOOKS: dict[str, Callable[[TrackerSourceConfig], Tracker]] = {"jira": _jira, "gitlab": _gitlab}


def tracker_for(source: TrackerSourceConfig) -> Tracker:
    """The tracker behind a source, built from its Airflow connection."""
    try:
        make = _HOOKS[source.kind]
    except KeyError:
        raise ValueError(f"source {source.display_name!r} of kind {source.kind!r} has no tracker") from None
    return make(source)


def sources_base() -> Path:
    """What relative `folder`s of file sources (and intake.followup_folder) are relative to: the folder
    of the configuration file that names them (NIGHTSHIFT_CONFIG), never the package's install location."""
    from nightshift.config import config_path

    return config_path().resolve().parent
