"""End-to-end: the spec's edge cases reach the morning, under the real scheduler, triggerer and pool.

The batch holds demo tickets (a clean one, a failure and its dependent, an escalation and a partial on
the GitLab stand-in, a not-ready issue) plus three ticket files: one intake refuses (invalid id), one
that is not ready (no acceptance criteria) and one the agent finishes in part. Checked after one run:
the refused and the not-ready file tickets are on the dashboard and on the review page with their
reasons; the partial GitLab issue is marked partial (one comment, the label) and the partial file ticket
has one follow-up ticket file in the outbox, linked from its MR; and every mapped row of the grid names
its ticket, the skipped and upstream-failed ones included.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest
import requests

from nightshift_local.demo import DEMO, PROJECT, DemoEnvironment

pytestmark = pytest.mark.e2e

BATCH_ID = "2026-01-06-edges"
TIMEOUT = 900
PARTIAL_FILE = """---
id: EDGE-1
title: Split the history module
priority: medium
complexity: small
labels: ["behaviour:partial"]
estimated_files: [src/calc/history.py]
---
## Acceptance criteria
- history lives in its own module

## Test cases
- the old import still works
"""
NOT_READY_FILE = """---
id: EDGE-3
title: Make it better
---
Make the calculator better.
"""
REFUSED_FILE = """---
id: edge one
title: A ticket with an id intake refuses
---
## Acceptance criteria
- none
"""


def flat(text: str) -> str:
    return " ".join(text.replace("║", " ").split())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("edges")
    tickets = root / "tickets"
    tickets.mkdir()
    for name in ("DEMO-1.md", "DEMO-6.md", "DEMO-7.md"):
        shutil.copy(DEMO / "tickets" / name, tickets / name)
    (tickets / "EDGE-1.md").write_text(PARTIAL_FILE)
    (tickets / "EDGE-3.md").write_text(NOT_READY_FILE)
    (tickets / "edge one.md").write_text(REFUSED_FILE)
    overrides = {
        "intake": {
            "sources": [
                {"kind": "files", "name": "edge-files", "folder": str(tickets)},
                {
                    "kind": "gitlab",
                    "name": "demo-gitlab",
                    "connection_id": "gitlab_default",
                    "projects": [PROJECT],
                },
            ],
            "followup_folder": str(root / "outbox"),
        }
    }
    environment = DemoEnvironment(root, 2, overrides)
    environment.start()
    yield environment
    environment.stop()


@pytest.fixture(scope="module")
def batch(env: DemoEnvironment) -> dict[str, Any]:
    stack = env.stack
    run_id = stack.trigger({"wait_for_windows": False, "batch_id": BATCH_ID})
    state = stack.wait_for_run(run_id, timeout=TIMEOUT)
    return {
        "run_id": run_id,
        "state": state,
        "dir": env.batch_dir(BATCH_ID),
        "tis": stack.task_instances(run_id),
    }


def test_refused_and_not_ready_file_tickets_are_on_the_dashboard_and_the_page(batch, env):
    assert batch["state"] == "success"
    dashboard = flat((batch["dir"] / "review" / "dashboard.txt").read_text())
    assert (
        "✗ edge one.md refused (edge-files): id/dependencies: 'edge one' is not a valid ticket id"
        in dashboard
    )
    assert "✗ EDGE-3 not ready: missing acceptance criteria: none found" in dashboard
    assert "✗ CALC-3 not ready: missing no open questions" in dashboard
    stack = env.stack
    page = requests.get(
        f"{stack.base_url}/nightshift/batches/{BATCH_ID}",
        headers={"Authorization": f"Bearer {stack.token()}"},
        timeout=30,
    )
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert "<code>edge one.md</code></td><td>refused (edge-files)</td>" in text
    assert "is not a valid ticket id" in text
    assert 'id="ticket-EDGE-3"' in text and "missing: acceptance criteria: none found" in text


def test_too_complex_marks_the_original_partial_and_files_get_a_followup(batch, env):
    outcomes = {p.parent.name: json.loads(p.read_text()) for p in batch["dir"].glob("tickets/*/outcome.json")}
    assert {t: o["state"] for t, o in outcomes.items()} == {
        "DEMO-1": "completed",
        "DEMO-6": "failed",
        "DEMO-7": "skipped",
        "CALC-1": "escalated",
        "CALC-2": "partial",
        "EDGE-1": "partial",
    }
    gitlab = env.gitlab
    issue = next(i for i in gitlab.issues(PROJECT) if i["iid"] == 2)
    assert "agent-partial" in issue["labels"] and "ready-for-agent" not in issue["labels"]
    assert len([n for n in gitlab.notes(PROJECT, issue_iid=2) if "completed part of CALC-2" in n]) == 1
    mrs = {mr["source_branch"]: mr for mr in env.merge_requests()}
    followups = sorted((env.root / "outbox").glob("*.md"))
    assert [p.name for p in followups] == [f"EDGE-1.followup.{BATCH_ID}.md"]
    key = outcomes["EDGE-1"]["followup_key"]
    assert key == "EDGE-4" and f"id: {key}" in followups[0].read_text()
    assert f"Follow-up ticket for the remaining work: `{key}`" in mrs["agent/EDGE-1"]["description"]
    assert mrs["agent/EDGE-1"]["web_url"] in followups[0].read_text()


def test_every_mapped_row_of_the_grid_names_its_ticket(batch, env):
    order = env.stack.xcom(batch["run_id"], "start_generation")
    gated = env.stack.xcom(batch["run_id"], "gate_tickets")
    rows = [t for t in batch["tis"] if t["task_id"].startswith(("ticket", "gates.")) and t["map_index"] >= 0]
    named = {(t["task_id"], t["map_index"]): (t["rendered_map_index"], t["state"]) for t in rows}
    expected = {key: (order if key[0] == "ticket" else gated)[key[1]] for key in named}
    assert {k: label for k, (label, _) in named.items()} == expected
    states = {state for _, state in named.values()}
    assert {"skipped", "failed", "success"} <= states
    assert named[("ticket", order.index("DEMO-6"))] == ("DEMO-6", "failed")
    assert named[("ticket", order.index("CALC-1"))] == ("CALC-1", "skipped")  # escalated
    assert named[("ticket", order.index("DEMO-7"))] == ("DEMO-7", "skipped")  # its dependency failed
