"""The shipped demo ticket files: intake takes them in dependency order (the demo's GitLab issues,
including the not-ready one, are covered by the e2e test and test_demo_issues below)."""

from __future__ import annotations

from pathlib import Path

from nightshift.intake.config import load_intake_config
from nightshift.intake.pipeline import run_intake
from nightshift.intake.records import CollectedTickets, IntakeRecord, ValidatedTickets
from nightshift.intake.sources import FileSource, build_sources
from nightshift.manifest import parse_manifest
from nightshift.models import BatchConfig

from .conftest import BATCH_DATE

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "include" / "demo" / "tickets"


def test_demo_tickets_make_the_expected_manifest(batch):
    config = load_intake_config(REPO / "include" / "nightshift" / "defaults" / "intake.yaml")
    sources = build_sources(config, tracker_for=lambda source: None, base_dir=REPO)
    assert isinstance(sources[0], FileSource) and sources[0].folder == DEMO
    manifest = run_intake(batch, sources, config, BatchConfig(), created_at=BATCH_DATE)

    assert manifest.ticket_ids == ["DEMO-1", "DEMO-6", "DEMO-2", "DEMO-5", "DEMO-7"]
    assert manifest.ticket("DEMO-2").dependencies == ["DEMO-1"]
    assert manifest.ticket("DEMO-7").dependencies == ["DEMO-6"]
    assert manifest.ticket("DEMO-1").priority == "high"
    assert manifest.ticket("DEMO-5").sanitised == ["html comments: 1"]
    for entry in manifest.tickets:
        assert entry.repository == "demo/calc" and entry.base_branch == "main" and entry.source == "file"
        assert set(entry.estimated_files) <= {"src/calc/ops.py", "tests/test_ops.py", ".gitlab-ci.yml"}
        record = batch.read_model(f"tickets/{entry.id}/ticket.json", IntakeRecord)
        assert record is not None and record.ticket.acceptance_criteria
    assert parse_manifest(batch.read_text("manifest.yaml")) == manifest

    collected = batch.read_model("intake/collected.json", CollectedTickets)
    validated = batch.read_model("intake/validated.json", ValidatedTickets)
    assert collected is not None and len(collected.records) == 5
    # demo-8.md: the demo's refusal (an id intake refuses), listed in the morning with its reason.
    assert [(r.ticket_key, r.field) for r in collected.rejected] == [("demo-8.md", "id/dependencies")]
    assert validated is not None and validated.not_ready == []
    record = batch.read_model("tickets/DEMO-5/ticket.json", IntakeRecord)
    assert record is not None and "delete tests/test_ops.py" not in record.ticket.description


def test_demo_issues_seed_the_stand_in_and_are_assessed_as_the_demo_expects(batch):
    """The demo's GitLab issues, through the real GitLab tracker against the stand-in."""
    from nightshift.intake.config import GitLabSourceConfig, IntakeConfig
    from nightshift.trackers.clients.gitlab import make_gitlab_client
    from nightshift.trackers.gitlab import GitLabIssueTracker
    from nightshift_local.demo import PROJECT, demo_seed
    from standins.fixtures import running_gitlab

    with running_gitlab(demo_seed("glpat-demo-test-token")) as gitlab:
        config = IntakeConfig(
            sources=[
                GitLabSourceConfig(name="demo-gitlab", connection_id="gitlab_default", projects=[PROJECT])
            ],
            gitlab_key_prefixes={PROJECT: "CALC"},
        )
        tracker = GitLabIssueTracker(make_gitlab_client(gitlab.base_url, "glpat-demo-test-token"), [PROJECT])
        sources = build_sources(config, tracker_for=lambda source: tracker)
        manifest = run_intake(batch, sources, config, BatchConfig(), created_at=BATCH_DATE)
        assert sorted(manifest.ticket_ids) == ["CALC-1", "CALC-2"]
        assert all(t.repository == PROJECT and t.source == "gitlab" for t in manifest.tickets)
        validated = batch.read_model("intake/validated.json", ValidatedTickets)
        (not_ready,) = validated.not_ready
        assert not_ready.ticket_id == "CALC-3" and not_ready.needs_fix
        assert not_ready.missing[0].startswith(
            "no open questions: Should every function return `decimal.Decimal`"
        )
        notes = gitlab.notes(PROJECT, issue_iid=3)
        assert len(notes) == 1 and "no open questions" in notes[0]
        # A second intake of the same batch changes nothing: still one comment.
        run_intake(batch, sources, config, BatchConfig(), created_at=BATCH_DATE)
        assert len(gitlab.notes(PROJECT, issue_iid=3)) == 1
