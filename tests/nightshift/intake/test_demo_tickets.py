"""The shipped demo tickets: intake takes DEMO-1..7 in dependency order and leaves DEMO-8 out."""

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
    config = load_intake_config(REPO / "include" / "config" / "intake.yaml")
    sources = build_sources(config, tracker_for=lambda source: None, base_dir=REPO)
    assert isinstance(sources[0], FileSource) and sources[0].folder == DEMO
    manifest = run_intake(batch, sources, config, BatchConfig(), created_at=BATCH_DATE)

    assert manifest.ticket_ids == ["DEMO-1", "DEMO-6", "DEMO-2", "DEMO-4", "DEMO-5", "DEMO-7", "DEMO-3"]
    assert manifest.ticket("DEMO-2").dependencies == ["DEMO-1"]
    assert manifest.ticket("DEMO-7").dependencies == ["DEMO-6"]
    assert manifest.ticket("DEMO-1").priority == "high"
    assert manifest.ticket("DEMO-5").sanitised == ["html comments: 1"]
    assert manifest.ticket("DEMO-4").warnings == ["recommended: test cases defined (missing)"]
    for entry in manifest.tickets:
        assert entry.repository == "demo/calc" and entry.base_branch == "main" and entry.source == "file"
        assert set(entry.estimated_files) <= {"src/calc/ops.py", "tests/test_ops.py", ".gitlab-ci.yml"}
        record = batch.read_model(f"tickets/{entry.id}/ticket.json", IntakeRecord)
        assert record is not None and record.ticket.acceptance_criteria
    assert parse_manifest(batch.read_text("manifest.yaml")) == manifest

    collected = batch.read_model("intake/collected.json", CollectedTickets)
    validated = batch.read_model("intake/validated.json", ValidatedTickets)
    assert collected is not None and collected.rejected == [] and len(collected.records) == 8
    assert validated is not None
    (not_ready,) = validated.not_ready
    assert not_ready.ticket_id == "DEMO-8" and not_ready.needs_fix
    assert not_ready.missing[0].startswith("no open questions: Should every function return `decimal.Decimal`")
    record = batch.read_model("tickets/DEMO-5/ticket.json", IntakeRecord)
    assert record is not None and "delete tests/test_ops.py" not in record.ticket.description
