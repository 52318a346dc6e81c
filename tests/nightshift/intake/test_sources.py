"""Ticket sources: one TrackerSource path for Jira and GitLab, and markdown files with front matter."""

from __future__ import annotations

from pathlib import Path

import pytest

from nightshift.intake.config import parse_intake_config
from nightshift.intake.records import Held, IntakeRecord, Rejection
from nightshift.intake.sources import FileSource, TrackerSource, build_sources
from nightshift.trackers.base import Tracker

from .fakes import FakeTracker, gitlab_issue, jira_issue, ready_body


def write_ticket(folder: Path, name: str, front: str, body: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"---\n{front}\n---\n{body or ready_body()}", encoding="utf-8")
    return path


def test_fake_tracker_satisfies_the_protocol():
    assert isinstance(FakeTracker(), Tracker)


def test_tracker_source_reads_jira_and_gitlab_through_one_path(config):
    jira = FakeTracker.of(
        jira_issue("PROJ-1"), jira_issue("PROJ-2", done=True), jira_issue("PROJ-3", labels=[])
    )
    gitlab = FakeTracker.of(gitlab_issue("group/app", 7), name="fake-gitlab")
    jira_items = list(TrackerSource(jira, "q", config, kind="jira", name="jira").fetch())
    gitlab_items = list(TrackerSource(gitlab, "ready-for-agent", config, kind="gitlab").fetch())
    assert [r.id for r in jira_items if isinstance(r, IntakeRecord)] == ["PROJ-1"]
    assert [r.id for r in gitlab_items if isinstance(r, IntakeRecord)] == ["APP-7"]
    assert gitlab_items[0].source == "fake-gitlab"  # type: ignore[union-attr]


def test_tracker_source_ignores_issues_without_the_ready_label_and_holds_done_ones(config):
    tracker = FakeTracker.of(
        jira_issue("PROJ-1"),
        jira_issue("PROJ-2", labels=["other"]),
        jira_issue("PROJ-3", done=True),
        search_everything=True,
    )
    items = list(TrackerSource(tracker, "too wide", config, kind="jira").fetch())
    assert [type(i).__name__ for i in items] == ["IntakeRecord", "Held"]
    assert items[1] == Held(ticket_id="PROJ-3", reason="done in the tracker", done=True)


def test_tracker_source_rejects_a_bad_issue_and_goes_on(config):
    tracker = FakeTracker.of(jira_issue("PROJ-1$(id)", project="PROJ"), jira_issue("PROJ-2"))
    items = list(TrackerSource(tracker, "q", config, kind="jira", name="jira").fetch())
    rejected = [i for i in items if isinstance(i, Rejection)]
    assert [i.id for i in items if isinstance(i, IntakeRecord)] == ["PROJ-2"]
    assert rejected == [
        Rejection(source="jira", ticket_key="PROJ-1$(id)", field="id", reason=rejected[0].reason)
    ]
    assert "not a valid ticket id" in rejected[0].reason


def test_tracker_source_dependency_lookups(config):
    jira = FakeTracker.of(jira_issue("PROJ-1"), done_keys={"PROJ-9"})
    source = TrackerSource(jira, "q", config, kind="jira")
    assert source.is_done("PROJ-9") is True
    assert source.is_done("PROJ-1") is False
    assert source.is_done("NOPE-1") is None  # unknown to this tracker
    assert source.is_done("APP-3") is None  # a GitLab prefix: not this Jira's
    gitlab = FakeTracker.of(gitlab_issue("group/app", 1), done_keys={"group/app#3"}, name="gl")
    gsource = TrackerSource(gitlab, "l", config, kind="gitlab")
    assert gsource.tracker_key_for("APP-3") == "group/app#3"
    assert gsource.is_done("APP-3") is True
    assert gsource.tracker_key_for("PROJ-1") is None


def test_file_source_reads_front_matter_and_body(tmp_path, config):
    write_ticket(
        tmp_path,
        "one.md",
        "id: DEMO-1\ntitle: First\npriority: High\ncomplexity: large\nlabels: [a, b]\n"
        "dependencies: [DEMO-0]\nestimated_files: [src/x.py]\nrepository: group/calc\nbase_branch: dev",
    )
    write_ticket(tmp_path, "zero.md", "id: DEMO-0\ndone: true")
    (tmp_path / "README.md").write_text("# not a ticket\n")
    (tmp_path / "notes.txt").write_text("ignored\n")
    source = FileSource(tmp_path, config, name="demo")
    items = list(source.fetch())
    assert items[1] == Held(ticket_id="DEMO-0", reason="marked done in its file", done=True)
    record = items[0]
    assert isinstance(record, IntakeRecord)
    ticket = record.ticket
    assert (ticket.id, ticket.title, ticket.priority, ticket.complexity) == (
        "DEMO-1",
        "First",
        "high",
        "large",
    )
    assert ticket.labels == ["a", "b"] and ticket.dependencies == ["DEMO-0"]
    assert ticket.estimated_files == ["src/x.py"]
    assert (ticket.repository, ticket.base_branch) == ("group/calc", "dev")
    assert ticket.source == "file" and record.tracker_key is None
    assert ticket.acceptance_criteria == ["it works"]
    assert source.is_done("DEMO-0") is True and source.is_done("DEMO-1") is False
    assert source.is_done("OTHER-1") is None
    # A fresh source (a later task that did not fetch) answers the same.
    assert FileSource(tmp_path, config).is_done("DEMO-0") is True


@pytest.mark.parametrize(
    ("front", "field", "reason"),
    [
        ("id: demo-1", "id/dependencies", "not a valid ticket id"),
        ("id: DEMO-1\ndependencies: ['X-1; rm']", "id/dependencies", "not a valid ticket id"),
        ("id: DEMO-1\nsurprise: 1", "surprise", "unknown field"),
        ("id: DEMO-1\npriority: [1]", "priority", "valid string"),
        ("id: &a DEMO-1\ntitle: *a", "front matter", "anchors"),
        ("id: DEMO-1\nid: DEMO-2", "front matter", "duplicate key"),
        ("- a list", "front matter", "expected a mapping"),
        ("id: DEMO-1\nrepository: ../../etc", "repository", "not a GitLab project path"),
    ],
)
def test_bad_ticket_files_are_rejected_naming_the_field(tmp_path, config, front, field, reason):
    write_ticket(tmp_path, "bad.md", front)
    write_ticket(tmp_path, "good.md", "id: DEMO-9")
    items = list(FileSource(tmp_path, config, name="files").fetch())
    rejected = [i for i in items if isinstance(i, Rejection)]
    assert [i.id for i in items if isinstance(i, IntakeRecord)] == ["DEMO-9"]
    assert len(rejected) == 1 and rejected[0].ticket_key == "bad.md" and rejected[0].field == field
    assert reason in rejected[0].reason


def test_file_without_front_matter_or_closing_line(tmp_path, config):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "a.md").write_text("# just markdown\n")
    (tmp_path / "b.md").write_text("---\nid: DEMO-1\n")
    (tmp_path / "c.md").write_text("---\nid: DEMO-3\n---\n")
    (tmp_path / "d.md").write_text("---\nid: DEMO-3\n---\n")
    items = list(FileSource(tmp_path, config).fetch())
    assert [(i.ticket_key, i.reason) for i in items if isinstance(i, Rejection)] == [
        ("a.md", "a ticket file starts with a '---' line"),
        ("b.md", "no closing '---' line"),
        ("d.md", "DEMO-3 is also the id of another file"),
    ]


def test_huge_ticket_file_is_read_only_up_to_the_cap(tmp_path, config, monkeypatch):
    path = write_ticket(tmp_path, "big.md", "id: DEMO-1", ready_body())
    with path.open("ab") as handle:
        handle.truncate(50 * 1024 * 1024)  # a sparse 50 MB file
    read_sizes: list[int] = []
    real_open = Path.open

    class CountingReader:
        def __init__(self, handle):
            self.handle = handle

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def read(self, n=-1):
            data = self.handle.read(n)
            read_sizes.append(len(data))
            return data

    def counting_open(self, mode="r", *args, **kwargs):
        handle = real_open(self, mode, *args, **kwargs)
        return CountingReader(handle) if self == path else handle

    monkeypatch.setattr(Path, "open", counting_open)
    (record,) = FileSource(tmp_path, config).fetch()
    monkeypatch.undo()
    assert isinstance(record, IntakeRecord)
    assert sum(read_sizes) <= config.max_body_bytes + 1  # the body read; front matter uses readline
    header = len(b"---\nid: DEMO-1\n---\n")
    assert f"truncated from {50 * 1024 * 1024 - header} bytes to 65536 bytes" in record.sanitised
    assert "\x00" not in record.ticket.description  # the sparse zeros are control characters: stripped


def test_missing_folder_fails_clearly(tmp_path, config):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(FileSource(tmp_path / "nope", config).fetch())


def test_build_sources_from_config(tmp_path):
    config = parse_intake_config(
        {
            "sources": [
                {"kind": "files", "folder": "tickets"},
                {"kind": "jira", "connection_id": "jira_default", "projects": ["PROJ"]},
                {"kind": "gitlab", "connection_id": "gitlab_default"},
            ]
        }
    )
    made: list[str] = []

    def tracker_for(source):
        made.append(source.connection_id)
        return FakeTracker(name=source.connection_id)

    files, jira, gitlab = build_sources(config, tracker_for, base_dir=tmp_path)
    assert isinstance(files, FileSource) and files.folder == tmp_path / "tickets"
    assert isinstance(jira, TrackerSource) and jira.query.startswith('project in ("PROJ")')
    assert isinstance(gitlab, TrackerSource) and gitlab.query == "ready-for-agent" and gitlab.kind == "gitlab"
    assert made == ["jira_default", "gitlab_default"]


def test_dry_run_source_reads_through_and_writes_nothing(tmp_path):
    from nightshift.intake.config import IntakeConfig
    from nightshift.intake.records import IntakeRecord
    from nightshift.intake.sources import DryRunSource, TicketSource
    from nightshift.models import Ticket

    class Recording(TicketSource):
        name = "rec"
        reported: list[str] = []

        def fetch(self):
            return iter(["x"])

        def is_done(self, ticket_id):
            return ticket_id == "P-1"

        def escalation_answer(self, ticket_id, marker):
            return None

        def report_not_ready(self, record, *, marker, body, relabel):
            self.reported.append(record.id)

    inner = Recording()
    dry = DryRunSource(inner)
    assert list(dry.fetch()) == ["x"] and dry.is_done("P-1") is True and dry.name == "rec"
    record = IntakeRecord(ticket=Ticket(id="P-2"), source="rec")
    dry.report_not_ready(record, marker="m", body="b", relabel=True)
    assert inner.reported == [] and dry.suppressed == ["P-2"]
    assert IntakeConfig() is not None
