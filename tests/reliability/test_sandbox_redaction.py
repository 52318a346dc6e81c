"""Issue 9, item 11: secrets that reach an agent's transcript are redacted from every piece of evidence.

The agent (the scripted backend in the real sandbox) prints what it might find in a repository or a log:
the parts of `AIRFLOW_CONN_*` connections (URI and JSON form, password raw and decoded, extras), a
`redis://:password@` URL, other `scheme://user:password@` URLs, and the forge token that the worker read
from an Airflow connection stored in the database (so it is not in the environment: the runtime
registers it with the runner).
"""

from __future__ import annotations

import json

import pytest

from tests.nightshift.agents.conftest import (  # noqa: F401 - fixtures
    behaviours,
    canaries,
    make_request,
    origin,
    scripted,
    workspaces,
    worktree,
)

CONN_URI = "jira://bot%40corp.example:canary-jira-pw%2F77aa@jira.example.com/?token=canary-jira-extra-91"
CONN_JSON = json.dumps({"conn_type": "gitlab", "host": "https://gitlab.example.com", "login": "bot",
                        "password": "canary-gl-json-5521", "extra": {"api_token": "canary-gl-extra-6612"}})
REGISTERED = "canary-registered-token-8080"  # e.g. the GitLab connection's token, read from the DB
#: What the agent prints, and the secret substrings that must not survive.
PRINTED = [
    CONN_URI,
    "canary-jira-pw/77aa",  # the decoded password alone
    "canary-jira-extra-91",
    CONN_JSON,
    "canary-gl-json-5521",
    "canary-gl-extra-6612",
    "redis://:canary-redis-pw-3141@redis:6379/0",
    "amqp://worker:canary-amqp-pw-2718@rabbit.internal:5672/",
    f"the token is {REGISTERED}",
]
SECRETS = ["canary-jira-pw", "canary-jira-extra-91", "canary-gl-json-5521", "canary-gl-extra-6612",
           "canary-redis-pw-3141", "canary-amqp-pw-2718", REGISTERED]


@pytest.mark.reliability
def test_connection_secrets_and_urls_are_redacted_from_evidence(
    scripted, make_request, worktree, behaviours, tmp_path, monkeypatch, reliability_row  # noqa: F811
):
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_DEFAULT", CONN_URI)
    monkeypatch.setenv("AIRFLOW_CONN_GITLAB_MAIN", CONN_JSON)
    steps = [{"print": line} for line in PRINTED] + [{"print_stderr": line} for line in PRINTED]
    steps.append({"write": {"path": "found.txt", "content": "\n".join(PRINTED)}})
    (behaviours / "PROJ-1.yaml").write_text(json.dumps({"checkpoints": {"C2": {
        "steps": steps, "result": {"reason": " ".join(PRINTED)}}}}))
    runner = scripted()
    runner.register_secrets(REGISTERED)
    result = runner.run(make_request(worktree), tmp_path / "run")
    assert result.status == "ok", result.reason

    evidence = {str(p.relative_to(tmp_path)): p.read_text(errors="replace")
                for p in (tmp_path / "run").rglob("*") if p.is_file()}
    evidence["returned result"] = result.model_dump_json()
    leaks = {name: [s for s in SECRETS if s in text] for name, text in evidence.items()}
    leaks = {name: found for name, found in leaks.items() if found}
    occurrences = sum(text.count(s) for text in evidence.values() for s in SECRETS)
    stdout = (tmp_path / "run" / "stdout.txt").read_text()
    reliability_row(row="Canary tokens in the Airflow environment and connections",
                    injection="AIRFLOW_CONN_* (URI, JSON), redis://:pw@, user:pw@ URLs, registered token",
                    figure=f"{occurrences} occurrences in transcripts and evidence", criterion="0",
                    passed=occurrences == 0)
    assert occurrences == 0, leaks
    # The redaction kept the surrounding text: reviewers still see what kind of URL it was.
    assert "redis://:[REDACTED]@redis:6379/0" in stdout
    assert "the token is [REDACTED]" in stdout
    assert (worktree / "found.txt").is_file()  # the worktree itself is the agent's: the fence checks it


def test_the_worker_registers_its_tracker_connections(make_request, worktree, behaviours, tmp_path,  # noqa: F811
                                                      monkeypatch):
    """The runtime reads the GitLab and Jira connections through Airflow (here its environment backend;
    in production usually the metadata DB, invisible to an environment scan) and registers their secrets."""
    from types import SimpleNamespace

    from nightshift.agents.config import AgentConfig
    from nightshift.agents.scripted_backend import ScriptedRunner
    from nightshift.intake.config import FilesSourceConfig, GitLabSourceConfig, JiraSourceConfig
    from nightshift_airflow.runtime import register_connection_secrets

    monkeypatch.setenv("AIRFLOW_CONN_NS_TEST_GITLAB", json.dumps(
        {"conn_type": "gitlab", "host": "https://gitlab.example.com", "password": "canary-gitlab-conn-4455"}))
    monkeypatch.setenv("AIRFLOW_CONN_NS_TEST_JIRA", json.dumps(
        {"conn_type": "jira", "host": "https://jira.example.com", "login": "bot", "password": "canary-jira-conn-6677"}))
    config = SimpleNamespace(
        forge=SimpleNamespace(gitlab_conn_id="ns_test_gitlab"),
        intake=SimpleNamespace(sources=[JiraSourceConfig(connection_id="ns_test_jira"),
                                        GitLabSourceConfig(connection_id="ns_test_missing"),
                                        FilesSourceConfig(folder="tickets")]),
    )
    secrets = ["canary-gitlab-conn-4455", "canary-jira-conn-6677"]
    (behaviours / "PROJ-1.yaml").write_text(json.dumps({"checkpoints": {"C2": {"steps": [
        {"print": f"found {s} in a log"} for s in secrets]}}}))
    agent = AgentConfig(backend="scripted", scripted={"behaviours_dir": str(behaviours),
                                                      "state_dir": str(tmp_path / "state")})
    runner = ScriptedRunner(agent, environ={})  # nothing to find in the environment
    register_connection_secrets(runner, config)  # type: ignore[arg-type]
    runner.run(make_request(worktree), tmp_path / "run")
    stdout = (tmp_path / "run" / "stdout.txt").read_text()
    assert stdout.count("[REDACTED]") == 2 and not any(s in stdout for s in secrets), stdout
