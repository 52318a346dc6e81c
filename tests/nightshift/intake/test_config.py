"""The intake config: defaults from the spec, and every mistake reported at load time with its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from nightshift.intake.config import (
    FilesSourceConfig,
    GitLabSourceConfig,
    IntakeConfigError,
    JiraSourceConfig,
    TrackerSourceConfig,
    load_intake_config,
    parse_intake_config,
)

REPO = Path(__file__).resolve().parents[3]


def test_defaults_follow_the_spec():
    config = parse_intake_config({"sources": [{"kind": "jira", "connection_id": "jira_default"}]})
    assert config.ready_label == "ready-for-agent" and config.not_ready_label == "agent-not-ready"
    assert config.query_for(config.sources[0]) == (
        'labels = "ready-for-agent" AND statusCategory != Done ORDER BY priority DESC, key ASC'
    )
    assert config.fields.priorities["blocker"] == "high" and config.fields.priorities["trivial"] == "low"
    assert config.max_body_bytes == 64 * 1024


def test_queries_follow_the_ready_label_and_projects():
    config = parse_intake_config(
        {
            "ready_label": "agent-ok",
            "sources": [
                {"kind": "jira", "connection_id": "j", "projects": ["PROJ", "OPS"]},
                {"kind": "gitlab", "connection_id": "g", "projects": ["group/app"]},
                {"kind": "jira", "name": "custom", "connection_id": "j", "jql": "filter = 42"},
            ],
        }
    )
    jira, gitlab, custom = config.sources
    assert config.query_for(jira) == (
        'project in ("PROJ", "OPS") AND (labels = "agent-ok" AND statusCategory != Done) '
        "ORDER BY priority DESC, key ASC"
    )
    assert config.query_for(gitlab) == "agent-ok"
    assert config.query_for(custom) == "filter = 42"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"ready_label": ""}, "intake.ready_label: a label cannot be empty"),
        ({"not_ready_label": "a,b"}, "intake.not_ready_label"),
        (
            {"not_ready_label": "ready-for-agent"},
            "ready_label, not_ready_label and partial_label must differ",
        ),
        ({"sources": [{"kind": "jira"}]}, "a jira source needs connection_id"),
        ({"sources": [{"kind": "jira", "connection_id": "j", "jql": "  "}]}, "the JQL is empty"),
        (
            {"sources": [{"kind": "jira", "connection_id": "j", "jql": 'labels = "x'}]},
            "unbalanced double quote",
        ),
        ({"sources": [{"kind": "gitlab", "connection_id": "g", "label": ""}]}, "a label cannot be empty"),
        ({"sources": [{"kind": "files"}]}, "a files source needs folder"),
        ({"sources": [{"kind": "files", "folder": "x", "jql": "a = b"}]}, "takes only folder"),
        (
            {"sources": [{"kind": "jira", "connection_id": "j", "projects": ["proj"]}]},
            "not a Jira project key",
        ),
        ({"gitlab_key_prefixes": {"group/app": "app"}}, "must be upper-case ASCII"),
        ({"gitlab_key_prefixes": {"a/x": "APP", "b/x": "APP"}}, "used by both a/x and b/x"),
        ({"routing": {"rules": [{"repository": "group/app"}]}}, "needs project, component or label"),
        ({"routing": {"default_repository": "../etc"}}, "not a GitLab project path"),
        ({"routing": {"default_base_branch": "-upload-pack=x"}}, "not a usable branch name"),
        ({"fields": {"default_priority": "urgent"}}, "intake.fields.default_priority"),
        ({"max_body_bytes": 10}, "intake.max_body_bytes"),
        ({"surprise": 1}, "intake.surprise: Extra inputs are not permitted"),
        (
            {"sources": [{"kind": "files", "folder": "a"}, {"kind": "files", "folder": "a"}]},
            "two sources are named 'files:a'",
        ),
    ],
)
def test_config_errors_name_the_field(data, expected):
    base = {"sources": [{"kind": "files", "folder": "tickets"}]}
    with pytest.raises(IntakeConfigError) as exc:
        parse_intake_config({**base, **data})
    assert expected in str(exc.value)


def test_several_problems_are_reported_together():
    with pytest.raises(IntakeConfigError) as exc:
        parse_intake_config({"ready_label": "", "max_body_bytes": 1, "sources": []})
    assert len(exc.value.problems) == 2


def test_the_shipped_default_section_loads(tmp_path):
    config = load_intake_config(REPO / "include" / "nightshift" / "defaults" / "intake.yaml")
    assert [s.kind for s in config.sources] == ["files"]
    assert config.routing.default_repository == "demo/calc"
    assert config.gitlab_key_prefixes == {"group/app": "APP"}
    # The strict YAML loader refuses aliases in config too.
    bomb = tmp_path / "intake.yaml"
    bomb.write_text("intake:\n  ready_label: &a x\n  not_ready_label: *a\n")
    with pytest.raises(IntakeConfigError, match="anchors"):
        load_intake_config(bomb)


def test_each_kind_is_its_own_model_with_its_own_query():
    config = parse_intake_config(
        {
            "ready_label": "agent-ok",
            "sources": [
                {"kind": "files", "folder": "tickets"},
                {"kind": "jira", "connection_id": "j", "projects": ["PROJ"], "jql": "x = 1 ORDER BY key"},
                {"kind": "gitlab", "connection_id": "g"},
            ],
        }
    )
    files, jira, gitlab = config.sources
    assert isinstance(files, FilesSourceConfig) and not isinstance(files, TrackerSourceConfig)
    assert isinstance(jira, JiraSourceConfig) and isinstance(gitlab, GitLabSourceConfig)
    assert jira.query("agent-ok") == 'project in ("PROJ") AND (x = 1) ORDER BY key'
    assert gitlab.query("agent-ok") == "agent-ok" and gitlab.label == "agent-ok"  # default filled in
    assert not hasattr(files, "query")  # a folder has no tracker query
    # Each model fills its own defaults from the ready label, and leaves a given value alone.
    assert JiraSourceConfig(connection_id="j").with_defaults("r").jql == (
        'labels = "r" AND statusCategory != Done ORDER BY priority DESC, key ASC'
    )
    assert GitLabSourceConfig(connection_id="g", label="mine").with_defaults("r").query("r") == "mine"
    # Projects are checked by the tracker's own key scheme.
    assert jira.scheme().check_project("OPS") == "OPS" and gitlab.scheme().check_project("a/b") == "a/b"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            {"kind": "gitlab", "name": "gl", "connection_id": "g", "jql": "x = 1"},
            "intake.sources.1.gitlab: source 'gl': a gitlab source takes only connection_id, projects, "
            "label (and name), not jql (jql is for kind jira)",
        ),
        (
            {"kind": "jira", "connection_id": "j", "label": "x", "folder": "t"},
            "intake.sources.1.jira: source 'jira:j': a jira source takes only connection_id, projects, jql "
            "(and name), not label, folder (label is for kind gitlab; folder is for kind files)",
        ),
        ({"kind": "redmine"}, "intake.sources.1: a source needs kind: files, jira or gitlab"),
        ({"connection_id": "j"}, "intake.sources.1: a source needs kind: files, jira or gitlab"),
        (
            {"kind": "gitlab", "connection_id": "g", "projects": ["group/app", "../x"]},
            "intake.sources.1.gitlab: projects: '../x' is not a GitLab project path such as 'group/app'",
        ),
        ({"kind": "gitlab", "connection_id": "g", "label": "a,b"}, "intake.sources.1.gitlab.label: "),
        ({"kind": "jira", "connection_id": "j", "jql": ""}, "intake.sources.1.jira.jql: the JQL is empty"),
    ],
)
def test_a_bad_source_is_named_with_its_kind_and_field(source, expected):
    with pytest.raises(IntakeConfigError) as exc:
        parse_intake_config({"sources": [{"kind": "files", "folder": "tickets"}, source]})
    assert exc.value.problems == [p for p in exc.value.problems if p.startswith("intake.sources.1")]
    assert any(p.startswith(expected) for p in exc.value.problems), exc.value.problems
