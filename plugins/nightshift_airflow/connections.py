"""Connection ids as operator parameters, as Airflow providers take them (`gitlab_conn_id=`,
`jira_conn_id=`), defaulting to the configured ones.

`gitlab_conn_id` replaces `forge.gitlab_conn_id` (merge requests, pushes, pipelines) and the connection of
every GitLab-issues intake source; `jira_conn_id` replaces the connection of every Jira source. The
operator then runs on a copy of the configuration with those ids, so every path that reaches GitLab or
Jira (hooks, triggers, the redactor's list of secrets) uses the same ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, BaseSensorOperator

from nightshift.intake.config import CONNECTION_ID

if TYPE_CHECKING:  # typing only: the configuration itself is loaded when a task runs
    from nightshift.config import NightshiftConfig



def with_connections(
    config: NightshiftConfig, *, gitlab_conn_id: str | None = None, jira_conn_id: str | None = None
) -> NightshiftConfig:
    """A copy of `config` whose GitLab and Jira connection ids are the given ones (None: unchanged)."""
    if not gitlab_conn_id and not jira_conn_id:
        return config
    swap = {"gitlab": gitlab_conn_id, "jira": jira_conn_id}
    sources = [
        source.model_copy(update={"connection_id": swap[source.kind]}) if swap.get(source.kind) else source
        for source in config.intake.sources
    ]
    forge = config.forge
    if gitlab_conn_id:
        forge = forge.model_copy(update={"gitlab_conn_id": gitlab_conn_id})
    return config.model_copy(
        update={"forge": forge, "intake": config.intake.model_copy(update={"sources": sources})}
    )


class _ConnectionIds:
    """What both bases share: the two ids, checked, and the configuration they make. No __init__ here:
    Airflow wraps each operator class's own __init__ (default_args, mapping), so the bases define it."""

    gitlab_conn_id: str | None
    jira_conn_id: str | None

    def _set_connection_ids(self, task_id: str, gitlab_conn_id: str | None, jira_conn_id: str | None) -> None:
        for name, value in (("gitlab_conn_id", gitlab_conn_id), ("jira_conn_id", jira_conn_id)):
            if value is not None and not CONNECTION_ID.match(value):
                raise ValueError(f"{task_id}: {name} {value!r} is not a connection id")
        self.gitlab_conn_id = gitlab_conn_id
        self.jira_conn_id = jira_conn_id

    def nightshift_config(self) -> NightshiftConfig:
        """The deployment configuration with this operator's connection ids."""
        from nightshift.config import cached_config

        ids = {"gitlab_conn_id": self.gitlab_conn_id, "jira_conn_id": self.jira_conn_id}
        return with_connections(cached_config(), **ids)


class NightshiftOperator(_ConnectionIds, BaseOperator):
    """Base of Nightshift's operators: `gitlab_conn_id=` and `jira_conn_id=` (also from default_args)."""

    def __init__(
        self, *, gitlab_conn_id: str | None = None, jira_conn_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._set_connection_ids(self.task_id, gitlab_conn_id, jira_conn_id)


class NightshiftSensor(_ConnectionIds, BaseSensorOperator):
    """Base of Nightshift's sensors: `gitlab_conn_id=` and `jira_conn_id=` (also from default_args)."""

    def __init__(
        self, *, gitlab_conn_id: str | None = None, jira_conn_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._set_connection_ids(self.task_id, gitlab_conn_id, jira_conn_id)
