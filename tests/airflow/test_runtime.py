"""nightshift_airflow.runtime on its own: the GenerationContext it builds from a task's context, a real
configuration file and a GitLab connection to the stand-in; the secrets it gives the runner's redactor;
the intake record it reads."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from nightshift.agents.backends import build_runner
from nightshift.agents.redact import Redactor
from nightshift.config import cached_config
from nightshift.generation.flow import GenerationContext
from nightshift.intake.config import JiraSourceConfig
from nightshift.intake.records import IntakeRecord
from nightshift.layout import ticket_record
from nightshift.models import ManifestTicket, Ticket
from nightshift.trackers.gitlab import GitLabIssueTracker
from nightshift_airflow.connections import with_connections
from nightshift_airflow.runtime import generation_context, read_record, register_connection_secrets
from tests.airflow.night import BATCH, FILES_SOURCE, GITLAB_SOURCE, PROJECT, TRUNK, Deployment


def _context(night: Deployment, **params) -> GenerationContext:
    night.write_manifest(
        ManifestTicket(id="P-1", repository=PROJECT),
        ManifestTicket(id="P-2", repository=PROJECT),
        ManifestTicket(id="P-3", repository="group/empty"),
        ManifestTicket(id="P-4"),  # intake could not route it
    )
    return generation_context(night.context(**params))


def _record(ticket_id: str, source: str) -> IntakeRecord:
    return IntakeRecord(ticket=Ticket(id=ticket_id, title="a ticket", repository=PROJECT), source=source)


def test_the_repository_is_read_from_the_forge_once_per_project(gitlab_night):
    gen = _context(gitlab_night)
    p1 = gen.repository(gen.manifest.ticket("P-1"))
    assert (p1.path, p1.git_url) == (PROJECT, f"{gitlab_night.server.base_url}/{PROJECT}.git")
    assert p1.default_branch == TRUNK, "the project's default branch, not forge.default_branch"
    assert p1.auth is not None and p1.auth.token == gitlab_night.server.token
    assert gen.repository(gen.manifest.ticket("P-2")) is p1
    reads = gitlab_night.server.requests("GET", r"/projects/group%2Fapp$")
    assert len(reads) == 1, "the second ticket of the project is served from the cache"


def test_an_empty_project_takes_the_configured_default_branch(gitlab_night):
    gen = _context(gitlab_night)
    assert gen.repository(gen.manifest.ticket("P-3")).default_branch == "main"


def test_a_ticket_without_a_repository_fails_naming_the_ticket(gitlab_night):
    gen = _context(gitlab_night)
    with pytest.raises(RuntimeError, match=r"ticket P-4: no repository in the manifest"):
        gen.repository(gen.manifest.ticket("P-4"))


def test_the_tracker_is_the_sources_and_none_for_files(gitlab_night):
    gen = _context(gitlab_night)
    assert gen.tracker(_record("P-1", FILES_SOURCE)) is None
    assert gen.tracker(_record("P-1", "a source no longer configured")) is None
    tracker = gen.tracker(_record("P-2", GITLAB_SOURCE))
    assert isinstance(tracker, GitLabIssueTracker)
    assert gen.tracker(_record("P-3", GITLAB_SOURCE)) is tracker, "one tracker per source"


def test_the_batch_dry_run_and_generation_end_come_from_the_run(gitlab_night):
    scheduled = _context(gitlab_night)
    assert scheduled.batch_id == BATCH and scheduled.dry_run is False
    assert scheduled.window_end == dt.datetime(2026, 1, 6, 6, tzinfo=dt.UTC), "the gates window opens"
    assert scheduled.manifest.ticket_ids == ["P-1", "P-2", "P-3", "P-4"]

    manual = generation_context(gitlab_night.context(dry_run=True, wait_for_windows=False))
    assert manual.dry_run is True and manual.window_end is None

    # Without a batch_id param the scheduled run's own id names the same batch.
    context = gitlab_night.context()
    del context["params"]["batch_id"]
    assert generation_context(context).batch_id == BATCH


def test_the_intake_record_is_read_and_a_missing_one_names_batch_and_ticket(gitlab_night):
    gen = _context(gitlab_night)
    record = _record("P-1", FILES_SOURCE)
    gitlab_night.artifacts.write_model(ticket_record("P-1"), record)
    assert gen.record("P-1") == record
    with pytest.raises(RuntimeError, match=rf"batch {BATCH}: ticket P-2 has no intake record"):
        gen.record("P-2")
    with pytest.raises(RuntimeError, match=rf"batch {BATCH}: ticket P-9 has no intake record"):
        read_record(gitlab_night.artifacts, "P-9")


def test_the_generation_runner_redacts_the_forge_token(gitlab_night):
    gen = _context(gitlab_night)
    token = gitlab_night.server.token
    redactor = Redactor.from_environ({}, extra=gen.runner._secrets)  # as the runner builds it per run
    assert token not in redactor.text(f"git push with {token}")


def test_connection_secrets_go_to_the_runners_redactor_and_a_missing_connection_is_skipped(
    gitlab_night, monkeypatch
):
    """A password no token pattern knows: only the registration can redact it, and the whole URI goes
    as one value (the longest match wins), not only its password."""
    from airflow.sdk import BaseHook

    password = "canary-conn-4455-plain"
    monkeypatch.setenv(
        "AIRFLOW_CONN_GITLAB_CANARY",
        json.dumps({"conn_type": "gitlab", "host": "gitlab.example.com", "password": password}),
    )
    config = with_connections(cached_config(), gitlab_conn_id="gitlab_canary")
    jira = JiraSourceConfig(name="jira", connection_id="jira_missing")
    config = config.model_copy(
        update={"intake": config.intake.model_copy(update={"sources": [*config.intake.sources, jira]})}
    )
    uri = BaseHook.get_connection("gitlab_canary").get_uri()
    assert password in uri
    line = f"cloned {uri} using {password}"
    runner = build_runner(config.agent)
    before = Redactor.from_environ({}, extra=runner._secrets).text(line)
    assert before.endswith(f"using {password}"), "nothing registered yet: the bare password shows"

    register_connection_secrets(runner, config)  # jira_missing does not exist: skipped, no error
    assert Redactor.from_environ({}, extra=runner._secrets).text(line) == "cloned [REDACTED] using [REDACTED]"
