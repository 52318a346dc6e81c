"""Tokens and cost appear on the dashboard and in the MR summary, read from the runs' usage records."""

from __future__ import annotations

from nightshift.agents.contract import Checkpoint, TokenUsage
from nightshift.artifacts import ArtifactStore
from nightshift.gates.summary import with_usage
from nightshift.generation.state import BatchState
from nightshift.generation.usage import batch_usage, ticket_usage
from nightshift.review.dashboard import WIDTH, render_dashboard
from nightshift.review.queue import build_queue
from tests.nightshift.review.fixtures import outcome, ticket, view


def _state(tmp_path) -> BatchState:
    state = BatchState(ArtifactStore(f"file://{tmp_path}").batch("2026-11-30-overnight"))
    spend = {
        ("P-1", Checkpoint.C0): TokenUsage(
            input_tokens=12_000,
            cached_input_tokens=4_000,
            output_tokens=900,
            cost_usd=0.05,
            cost_source="agent",
        ),
        ("P-1", Checkpoint.C2): TokenUsage(
            input_tokens=30_000, output_tokens=2_000, cost_usd=0.2, cost_source="price_table"
        ),
        ("P-2", Checkpoint.C0): TokenUsage(input_tokens=500, output_tokens=20),  # unpriced
    }
    for (ticket_id, checkpoint), usage in spend.items():
        run = state.run_dir_name(ticket_id, checkpoint, "try1")
        state.artifacts.write_text(f"{run}/usage.json", usage.model_dump_json())
    return state


def test_dashboard_shows_batch_and_ticket_usage(tmp_path) -> None:
    batch = view([ticket("P-1"), ticket("P-2")], [outcome("P-1"), outcome("P-2")])
    batch.usage = batch_usage(_state(tmp_path))
    lines = render_dashboard(batch, build_queue(batch)).splitlines()
    at = next(i for i, line in enumerate(lines) if "Agent usage (tokens, cost):" in line)
    assert "Batch (3 runs): 42.5k tokens in, 2.9k out (4.0k cached), $0.2500 + unpriced runs" in lines[at + 1]
    assert "P-1: 42.0k tokens in, 2.9k out (4.0k cached), $0.2500" in lines[at + 2]  # most expensive first
    assert "P-2: 500 tokens in, 20 out, $0.0000 + unpriced runs" in lines[at + 3]
    assert {len(line) for line in lines} == {WIDTH + 4}


def test_dashboard_without_usage_has_no_usage_section() -> None:
    batch = view([ticket("P-1")], [outcome("P-1")])
    assert "Agent usage" not in render_dashboard(batch, build_queue(batch))


def test_mr_summary_gets_the_ticket_usage_before_its_links(tmp_path) -> None:
    summary = "## Nightshift gates\n\n### Checks\n\n### Links\n\n- review\n"
    out = with_usage(summary, ticket_usage(_state(tmp_path), "P-1"))
    assert out.index("### Agent usage") < out.index("### Links")
    assert "42.0k tokens in, 2.9k out (4.0k cached), $0.2500 in 2 agent run(s)." in out
    assert with_usage(summary, ticket_usage(_state(tmp_path), "P-9")) == summary  # no runs, no section


def test_runs_that_report_no_usage_add_no_section(tmp_path) -> None:
    state = BatchState(ArtifactStore(f"file://{tmp_path}").batch("2026-11-30-overnight"))
    state.artifacts.write_text(
        f"{state.run_dir_name('P-1', Checkpoint.C0, 'try1')}/usage.json", TokenUsage().model_dump_json()
    )
    batch = view([ticket("P-1")], [outcome("P-1")])
    batch.usage = batch_usage(state)
    assert batch.usage.total.runs == 1
    assert "Agent usage" not in render_dashboard(batch, build_queue(batch))
    assert with_usage("x\n### Links\n", ticket_usage(state, "P-1")) == "x\n### Links\n"
