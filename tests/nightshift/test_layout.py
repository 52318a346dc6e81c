"""One spelling per rule: the batch folder layout (nightshift.layout), the ticket-id and GitLab path
patterns (nightshift.models), and one atomic file write (nightshift.artifacts)."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from nightshift import layout
from nightshift.artifacts import ArtifactStore, write_bytes_atomic, write_text_atomic
from nightshift.generation.state import BatchState
from nightshift.generation.usage import batch_usage
from nightshift.intake.carryover import latest_outcomes

REPO = Path(__file__).resolve().parents[2]
#: Pieces of the layout that only nightshift/layout.py may spell (the bare word "tickets" is also the
#: manifest's key, and "/runs/" a URL path of Airflow and the review page, so they are not listed).
LAYOUT_SPELLINGS = (
    "manifest.yaml",
    "tickets/",
    "intake/",
    "review/",
    "ratelimits/",
    "escalations/",
    "checkpoints/",
    "/ticket.json",
    "outcome.json",
    "push.json",
    "branch.json",
    "followup.json",
    "gates.json",
    "gates-pipeline.json",
)
#: Folder and file names that only nightshift/layout.py may spell as a whole string (the run folder's
#: records too: "run.json" as a piece would also match "started.dry-run.json").
LAYOUT_FOLDERS = ("ratelimits", "escalations", "runs", "run.json", "launch.json", "usage.json")


def test_each_record_has_its_documented_path():
    assert layout.ticket_record("PROJ-1") == "tickets/PROJ-1/ticket.json"
    assert layout.started_record("PROJ-1") == "tickets/PROJ-1/started.json"
    assert layout.started_record("PROJ-1", dry_run=True) == "tickets/PROJ-1/started.dry-run.json"
    assert layout.checkpoint_record("PROJ-1", "C1") == "tickets/PROJ-1/checkpoints/C1.json"
    assert layout.checkpoint_record("PROJ-1", "C1", True) == "tickets/PROJ-1/checkpoints/C1.dry-run.json"
    assert layout.run_dir("PROJ-1", "C0", "try1") == "tickets/PROJ-1/runs/C0-try1"
    assert layout.run_dir("PROJ-1", "C0", "try1", dry_run=True) == "tickets/PROJ-1/runs/dry-run-C0-try1"
    assert layout.push_record("PROJ-1") == "tickets/PROJ-1/push.json"
    assert layout.branch_record("PROJ-1") == "tickets/PROJ-1/branch.json"
    assert layout.followup_record("PROJ-1") == "tickets/PROJ-1/followup.json"
    assert layout.outcome_record("PROJ-1") == "tickets/PROJ-1/outcome.json"
    assert layout.rate_limit_record("PROJ-1", "C2", 3) == "ratelimits/PROJ-1-C2-3.json"
    assert layout.escalation_record("PROJ-1") == "escalations/PROJ-1.json"


@pytest.mark.parametrize(
    "make",
    [
        layout.ticket_dir,
        layout.started_record,
        layout.push_record,
        layout.followup_record,
        lambda t: layout.run_dir(t, "C0", "try1"),
        lambda t: layout.rate_limit_record(t, "C0", 0),
        layout.escalation_record,
    ],
)
def test_no_record_name_leaves_its_folder(make):
    with pytest.raises(ValueError, match="not a valid ticket id"):
        make("../PROJ-1")


def _layout_strings(path: Path, base: Path = REPO) -> list[str]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        f"{path.relative_to(base)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and (node.value in LAYOUT_FOLDERS or any(piece in node.value for piece in LAYOUT_SPELLINGS))
    ]


def test_only_layout_spells_the_batch_folder():
    roots = [REPO / "include" / "nightshift", REPO / "include" / "nightshift_local", REPO / "plugins"]
    found = [
        hit
        for root in roots
        for path in sorted(root.rglob("*.py"))
        if path != REPO / "include" / "nightshift" / "layout.py"
        for hit in _layout_strings(path)
    ]
    assert found == []


def test_the_check_catches_a_spelled_path(tmp_path):
    module = tmp_path / "mod.py"
    module.write_text('"""Writes tickets/<ID>/outcome.json."""\nPATH = f"tickets/{1}/outcome.json"\n')
    assert len(_layout_strings(module, tmp_path)) == 2  # the f-string's two pieces; not the docstring


def test_a_create_once_write_never_replaces_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "sub" / "file.md"
    write_text_atomic(target, "first", overwrite=False)
    with pytest.raises(FileExistsError):
        write_bytes_atomic(target, b"second", overwrite=False)
    assert target.read_text() == "first"
    write_text_atomic(target, "third")  # the default replaces
    assert target.read_text() == "third"
    assert sorted(os.listdir(target.parent)) == ["file.md"]


def test_readers_skip_ticket_folders_that_are_no_ticket_id(tmp_path):
    store = ArtifactStore(str(tmp_path / "artifacts"))
    earlier = store.batch("2024-01-14-overnight")
    earlier.write_text("tickets/not-an-id/outcome.json", "{}")
    outcomes, problems = latest_outcomes(store, "2024-01-15-overnight")
    assert outcomes == {} and len(problems) == 1 and "tickets/not-an-id" in problems[0]
    assert batch_usage(BatchState(earlier)).tickets == {}


def test_the_ticket_id_and_gitlab_path_rules_are_spelled_once():
    """models.py holds them; readiness, intake and the GitLab tracker build their patterns from it."""
    rules = ("[A-Z0-9_]{0,19}", "[A-Za-z0-9_.-]*(?:/")
    spelled = [
        f"{path.relative_to(REPO)}: {rule}"
        for root in (REPO / "include" / "nightshift", REPO / "plugins")
        for path in sorted(root.rglob("*.py"))
        for rule in rules
        if rule in path.read_text() and path != REPO / "include" / "nightshift" / "models.py"
    ]
    assert spelled == []
