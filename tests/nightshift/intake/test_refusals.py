"""Refusals reach the morning: every ticket intake refused (invalid id, unreadable front matter, not
UTF-8) or left out as not ready (missing criteria, open questions, unknown dependencies) is listed on the
text dashboard and on the review page with its reason. A file ticket has no tracker to comment on, so
this list is its only feedback. When the text was cut at the size limit before its readiness sections,
the reason says so, and where.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from unittest import mock

from nightshift.artifacts import ArtifactStore
from nightshift.intake.config import parse_intake_config
from nightshift.intake.pipeline import run_intake
from nightshift.intake.sources import FileSource, TrackerSource
from nightshift.models import BatchConfig
from nightshift.review.batch_view import load_batch_view
from nightshift.review.dashboard import render_dashboard
from nightshift.review.queue import build_queue
from nightshift.trackers.clients.gitlab import make_gitlab_client
from nightshift.trackers.gitlab import GitLabIssueTracker
from standins.fixtures import running_gitlab
from standins.gitlab import default_seed as gitlab_default_seed

NOW = dt.datetime(2026, 1, 5, 17, 0, tzinfo=dt.UTC)
READY = "## Acceptance Criteria\n- it works\n\n## Agent Readiness\n- [x] Acceptance criteria clear\n"
FILLER = "## Background\n" + "A line of background that goes on and on.\n" * 60
HEAD = "---\nid: {id}\ntitle: {title}\nrepository: group/app\n---\n"


def write_tickets(folder: Path) -> None:
    folder.mkdir()
    (folder / "DEMO-1.md").write_text(HEAD.format(id="DEMO-1", title="Ready") + READY)
    (folder / "bad-id.md").write_text(HEAD.format(id="demo one", title="Bad id") + READY)
    (folder / "broken.md").write_text("---\nid: DEMO-3\ntitle: [unclosed\n---\n" + READY)
    (folder / "latin1.md").write_bytes(b"---\nid: DEMO-4\ntitle: caf\xe9\n---\n" + READY.encode())
    (folder / "question.md").write_text(
        HEAD.format(id="DEMO-5", title="Question") + READY + "\n## Open Questions\n- Which rounding?\n"
    )
    (folder / "depends.md").write_text(
        HEAD.format(id="DEMO-6", title="Depends") + READY + "- [x] Dependencies: NOPE-9\n"
    )
    (folder / "long.md").write_text(HEAD.format(id="DEMO-7", title="Long") + FILLER + READY)
    (folder / "criteria.md").write_text(HEAD.format(id="DEMO-8", title="No criteria") + "Just do it.\n")


def dashboard_and_page(store: ArtifactStore, batch_id: str) -> tuple[str, str]:
    from nightshift_airflow.review_app import app, data

    view = load_batch_view(store, batch_id)
    dashboard = render_dashboard(view, build_queue(view))
    with mock.patch.object(data, "_store", return_value=store):
        context = data.page_context(batch_id)
    page = app._env.get_template("batch.html").render(
        root="/nightshift", nonce="n", batches=[], current=batch_id, **context
    )
    return dashboard, page


def test_file_refusals_and_not_ready_tickets_are_listed_with_their_reasons(tmp_path: Path):
    folder = tmp_path / "tickets"
    write_tickets(folder)
    config = parse_intake_config(
        {"sources": [{"kind": "files", "folder": str(folder)}], "max_body_bytes": 1024}
    )
    store = ArtifactStore(f"file://{tmp_path / 'artifacts'}")
    batch = store.batch("2026-01-05-overnight")
    manifest = run_intake(batch, [FileSource(folder, config)], config, BatchConfig(), created_at=NOW)
    assert manifest.ticket_ids == ["DEMO-1"]

    dashboard, page = dashboard_and_page(store, batch.batch_id)
    flat = " ".join(dashboard.replace("║", " ").split())
    page_text = " ".join(page.split())
    expected = {
        "bad-id.md": "id",  # invalid id
        "broken.md": "front matter",  # unreadable front matter
        "latin1.md": "UTF-8",  # not UTF-8
    }
    for name, why in expected.items():
        assert f"✗ {name} refused" in flat and why in flat.split(f"✗ {name} refused", 1)[1][:160]
        assert f"<code>{name}</code></td><td>refused" in page_text
    not_ready = {
        "DEMO-5": "no open questions: Which rounding?",
        "DEMO-6": "dependencies resolved: waiting on NOPE-9 (not found in any source)",
        "DEMO-8": "acceptance criteria: none found",
    }
    for ticket_id, why in not_ready.items():
        assert f"✗ {ticket_id} not ready: missing {why}" in flat
        assert f'id="ticket-{ticket_id}"' in page_text and why in page_text
    assert "Not ready / refused at intake: 7" in flat

    # DEMO-7's criteria lie past the 1024-byte cut: the reason says the text was cut, and where.
    body = (FILLER + READY).encode()
    lines = len(body[:1024].decode().splitlines())
    cut = (
        f"ticket text cut at 1024 bytes (of {len(body)} bytes), after line {lines}, under the heading "
        '"Background" (intake.max_body_bytes): Acceptance Criteria and Agent Readiness not in the kept part'
    )
    assert f"✗ DEMO-7 not ready: missing {cut}" in flat
    assert cut.replace('"', "&#34;") in page_text


def test_a_cut_gitlab_issue_says_where_on_the_issue_and_in_the_morning(tmp_path: Path):
    seed = gitlab_default_seed()
    seed["projects"][0]["issues"] = [
        {"title": "Long", "description": FILLER * 2 + READY, "labels": ["ready-for-agent"]},
    ]
    config = parse_intake_config(
        {
            "sources": [
                {"kind": "gitlab", "name": "gitlab", "connection_id": "g", "projects": ["group/app"]}
            ],
            "gitlab_key_prefixes": {"group/app": "APP"},
            "max_body_bytes": 2048,
        }
    )
    store = ArtifactStore(f"file://{tmp_path / 'artifacts'}")
    batch = store.batch("2026-01-05-overnight")
    with running_gitlab(seed) as server:
        tracker = GitLabIssueTracker(
            make_gitlab_client(server.base_url, server.token, retries=0), ["group/app"]
        )
        source = TrackerSource(
            tracker, config.query_for(config.sources[0]), config, kind="gitlab", name="gitlab"
        )
        run_intake(batch, [source], config, BatchConfig(), created_at=NOW)
        comments = tracker.get("group/app#1").comments
    where = f"ticket text cut at 2048 bytes (of {len(FILLER * 2 + READY)} characters), after line"
    assert len([c for c in comments if where in c]) == 1
    dashboard, _ = dashboard_and_page(store, batch.batch_id)
    assert where in " ".join(dashboard.replace("║", " ").split())


def test_an_uncut_ticket_without_criteria_gets_no_cut_note(tmp_path: Path):
    folder = tmp_path / "tickets"
    folder.mkdir()
    (folder / "short.md").write_text(HEAD.format(id="DEMO-8", title="No criteria") + "Just do it.\n")
    config = parse_intake_config(
        {"sources": [{"kind": "files", "folder": str(folder)}], "max_body_bytes": 1024}
    )
    store = ArtifactStore(f"file://{tmp_path / 'artifacts'}")
    batch = store.batch("2026-01-05-overnight")
    run_intake(batch, [FileSource(folder, config)], config, BatchConfig(), created_at=NOW)
    view = load_batch_view(store, batch.batch_id)
    assert [m.split(":")[0] for m in view.not_ready[0].missing] == ["acceptance criteria"]
