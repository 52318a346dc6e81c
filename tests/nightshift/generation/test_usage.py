"""Usage totals per ticket and batch, and the night/ticket budgets, through the real flow steps."""

from __future__ import annotations

import json

import pytest

from nightshift.agents.contract import Checkpoint, TokenUsage
from nightshift.generation import flow
from nightshift.generation.usage import Budget, batch_usage, over_budget, ticket_usage
from nightshift.models import TicketState
from tests.nightshift.generation.test_flow import (  # noqa: F401 (fixtures)
    NOW,
    ScriptedRunner,
    make_ctx,
    ok,
    remote,
    run_ticket,
)

TWO_TICKETS = """batch_id: "2026-01-05-overnight"
created_at: "2026-01-05T18:00:00Z"
config: {max_tickets: 10, timeout_per_ticket: 30m, parallel_agents: 2}
tickets:
  - {id: "P-1", priority: high, complexity: small, estimated_files: ["app.py"], dependencies: [], repository: "g/app"}
  - {id: "P-2", priority: medium, complexity: small, estimated_files: ["app.py"], dependencies: [], repository: "g/app"}
"""
#: What every scripted checkpoint spends (as the real runner records it in usage.json).
SPEND = TokenUsage(
    input_tokens=1000, cached_input_tokens=200, output_tokens=100, cost_usd=0.01, cost_source="agent"
)


class SpendingRunner(ScriptedRunner):
    """The flow's scripted agent, leaving usage.json in its run folder as the real runner does."""

    def run(self, request, run_dir, *, deadline_monotonic=None):
        result = super().run(request, run_dir, deadline_monotonic=deadline_monotonic)
        result = result.model_copy(update={"usage": SPEND})
        (run_dir / "usage.json").write_text(SPEND.model_dump_json())
        return result


@pytest.fixture
def spending_ctx(make_ctx):  # noqa: F811
    def build(budget: Budget):
        ctx, _, forge, _ = make_ctx(manifest=TWO_TICKETS)
        ctx.runner = SpendingRunner({})
        ctx.budget = budget
        return ctx

    return build


def test_usage_is_summed_per_ticket_and_batch(spending_ctx):
    ctx = spending_ctx(Budget())
    assert run_ticket(ctx, "P-1").action == "continue"
    assert run_ticket(ctx, "P-2").action == "continue"
    p1 = ticket_usage(ctx.state, "P-1")
    assert (p1.runs, p1.input_tokens, p1.cached_input_tokens, p1.output_tokens) == (3, 3000, 600, 300)
    assert p1.cost_usd == pytest.approx(0.03)
    usage = batch_usage(ctx.state)
    assert set(usage.tickets) == {"P-1", "P-2"}
    assert usage.total.runs == 6 and usage.total.cost_usd == pytest.approx(0.06)
    assert usage.total.short() == "6.0k tokens in, 600 out (1.2k cached), $0.0600"
    # Idempotent: reading again (a retried task) counts nothing twice.
    assert batch_usage(ctx.state) == usage


def test_night_budget_smaller_than_the_spend_carries_the_second_ticket_over(spending_ctx):
    # P-1's three checkpoints cost $0.03; one more checkpoint would take the night past $0.035.
    ctx = spending_ctx(Budget(per_night_usd=0.035))
    assert run_ticket(ctx, "P-1").action == "continue"
    assert ctx.state.outcome("P-1").state == TicketState.COMPLETED
    decision = run_ticket(ctx, "P-2")
    assert decision.action == "skip"
    outcome = ctx.state.outcome("P-2")
    assert outcome.state == TicketState.CARRIED_OVER
    assert "C0 not started: night budget" in outcome.reason and "$0.0350" in outcome.reason
    assert ("P-2", Checkpoint.C0) not in ctx.runner.calls  # the agent never started
    assert batch_usage(ctx.state).total.cost_usd == pytest.approx(0.03)


def test_ticket_budget_stops_a_ticket_between_checkpoints(spending_ctx):
    ctx = spending_ctx(Budget(per_ticket_usd=0.02))
    decision = run_ticket(ctx, "P-1")
    assert decision.action == "skip"
    outcome = ctx.state.outcome("P-1")
    assert outcome.state == TicketState.CARRIED_OVER and outcome.reason.startswith(
        "C2 not started: ticket budget"
    )
    assert ctx.runner.calls == [("P-1", Checkpoint.C0), ("P-1", Checkpoint.C1)]
    # The other ticket has its own budget.
    assert run_ticket(ctx, "P-2").action == "skip"
    assert ctx.state.outcome("P-2").reason.startswith("C2 not started")


def test_no_budget_never_refuses(spending_ctx):
    ctx = spending_ctx(Budget())
    run_ticket(ctx, "P-1")
    assert over_budget(ctx.state, "P-2", ctx.budget) is None
    assert flow.before_checkpoint(ctx, "P-2", Checkpoint.C0).action == "continue"


def test_usage_records_of_failed_runs_count_and_unpriced_runs_are_flagged(spending_ctx):
    ctx = spending_ctx(Budget())
    folder = ctx.state.run_dir_name("P-1", Checkpoint.C0, "try1")
    unpriced = TokenUsage(input_tokens=50, output_tokens=5)
    ctx.state.artifacts.write_text(f"{folder}/usage.json", unpriced.model_dump_json())
    totals = ticket_usage(ctx.state, "P-1")
    assert totals.runs == 1 and totals.unpriced_runs == 1 and totals.cost_usd == 0
    assert "unpriced" in totals.short()
    assert json.loads(batch_usage(ctx.state).model_dump_json())["total"]["input_tokens"] == 50
