"""Nightshift as an Airflow provider: the GitLab and Jira connection types, registered through the
`apache_airflow_provider` entry point, so the Connections form shows their fields and the Test button
(`[core] test_connection = Enabled`) calls the hooks' `test_connection`.

One source for each form: the field behaviours below (the hooks' `get_ui_field_behaviour` returns
them too), and the extra fields from the pydantic models that validate the connection's extras
(TransportPolicy, JiraExtras), so the form and the validation cannot drift apart. Airflow calls
`get_provider_info` while it starts up: this module imports neither Airflow nor the hooks.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nightshift.trackers.clients.gitlab import TransportPolicy

GITLAB_UI: dict[str, Any] = {
    "hidden_fields": ["schema", "port", "login"],
    "relabeling": {"host": "GitLab URL", "password": "Private token"},
    "placeholders": {
        "host": "https://gitlab.example.com",
        "extra": '{"timeout": 30, "retries": 5, "max_retry_after": 60}',
    },
}
JIRA_UI: dict[str, Any] = {
    "hidden_fields": ["schema", "port"],
    "relabeling": {
        "host": "Jira URL",
        "login": "User name or e-mail (empty for a personal access token)",
        "password": "Password, API token or personal access token",
    },
    "placeholders": {
        "host": "https://jira.example.com",
        "extra": '{"deployment": "server", "timeout": 30, "max_retries": 3, "max_retry_delay": 60}',
    },
}


class JiraExtras(BaseModel):
    """The Jira connection's extras, validated: a typo fails with the connection named, not silently."""

    model_config = ConfigDict(extra="forbid")

    deployment: Literal["cloud", "server"] | None = None
    timeout: float = Field(default=30.0, gt=0, le=600)
    max_retries: int = Field(default=3, ge=0, le=10)
    max_retry_delay: float = Field(default=60.0, ge=0, le=3600)


_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean"}


def conn_fields(model: type[BaseModel], labels: dict[str, str]) -> dict[str, Any]:
    """Airflow's declarative `conn-fields` from an extras model: type, default, enum and description."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = [a for a in typing.get_args(annotation) if a is not types.NoneType]
        schema: dict[str, Any]
        if typing.get_origin(annotation) is typing.Literal or (
            args and typing.get_origin(args[0]) is typing.Literal
        ):
            options = typing.get_args(args[0] if args and typing.get_origin(args[0]) else annotation)
            schema = {"type": ["string", "null"], "enum": [*options, None]}
        else:
            schema = {"type": [_JSON_TYPES.get(annotation, "string"), "null"]}  # type: ignore[arg-type]
        if info.default is not None:
            schema["default"] = info.default
        fields[name] = {"label": labels.get(name, name.replace("_", " ").capitalize()), "schema": schema}
    return fields


def form_extras(extra: dict[str, Any], conn_type: str) -> dict[str, Any]:
    """A connection's extras as the hooks validate them: the form's empty fields (None) dropped and the
    legacy `extra__<type>__` prefix removed, so a connection saved from the form or by hand both work."""
    prefix = f"extra__{conn_type}__"
    return {key.removeprefix(prefix): value for key, value in extra.items() if value not in (None, "")}


def _behaviour(hook_behaviour: dict[str, Any]) -> dict[str, Any]:
    return {
        "hidden-fields": hook_behaviour.get("hidden_fields", []),
        "relabeling": hook_behaviour.get("relabeling", {}),
        "placeholders": {k: v for k, v in hook_behaviour.get("placeholders", {}).items() if k != "extra"},
    }


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "nightshift",
        "name": "Nightshift",
        "description": "GitLab and Jira connections for Nightshift's overnight agent batches.",
        "versions": ["0.1.0"],
        "connection-types": [
            {
                "hook-class-name": "nightshift_airflow.hooks.gitlab.GitLabHook",
                "hook-name": "GitLab",
                "connection-type": "gitlab",
                "ui-field-behaviour": _behaviour(GITLAB_UI),
                "conn-fields": conn_fields(
                    TransportPolicy,
                    {
                        "timeout": "Timeout per attempt (s)",
                        "retries": "Retries after 429/5xx",
                        "max_retry_after": "Longest server-requested wait (s)",
                    },
                ),
            },
            {
                "hook-class-name": "nightshift_airflow.hooks.jira.JiraHook",
                "hook-name": "Jira (Nightshift)",
                "connection-type": "jira",
                "ui-field-behaviour": _behaviour(JIRA_UI),
                "conn-fields": conn_fields(
                    JiraExtras,
                    {
                        "deployment": "Deployment (cloud or server)",
                        "timeout": "Timeout per attempt (s)",
                        "max_retries": "Retries",
                        "max_retry_delay": "Longest retry wait (s)",
                    },
                ),
            },
        ],
    }
