"""What a night cost: token and money totals per ticket and per batch, and the optional budgets.

Every agent run leaves usage.json next to its evidence (tickets/<id>/runs/<checkpoint>-<attempt>/),
whatever its outcome: a failed or rate-limited run spent tokens too. Totals are sums over those files,
so they are idempotent (a retried task that reran the agent has its own run folder, and its spend
counts, because it was spent).

Budgets (`generation.budget` in nightshift.yaml), both optional, in USD:
  per_ticket_usd  a ticket whose spend reached it starts no further checkpoint;
  per_night_usd   a checkpoint does not start when the batch's spend plus the expected cost of one run
                  (the mean cost of the batch's runs so far) would exceed it.
Either way the ticket is carried over to the next night with the reason.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nightshift import layout
from nightshift.agents.contract import TokenUsage
from nightshift.generation.state import BatchState
from nightshift.models import is_ticket_id


class Budget(BaseModel):
    """Optional spending limits for one night (USD)."""

    model_config = ConfigDict(extra="forbid")

    per_ticket_usd: float | None = Field(default=None, gt=0)
    per_night_usd: float | None = Field(default=None, gt=0)


class UsageTotals(BaseModel):
    """Summed usage of some agent runs."""

    runs: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    #: Runs that spent tokens but have no cost (the model is not in the price table).
    unpriced_runs: int = 0

    def add(self, usage: TokenUsage) -> None:
        self.runs += 1
        self.input_tokens += usage.input_tokens
        self.cached_input_tokens += usage.cached_input_tokens
        self.output_tokens += usage.output_tokens
        self.cost_usd = round(self.cost_usd + usage.cost_usd, 6)
        spent = usage.input_tokens or usage.output_tokens
        if spent and usage.cost_source == "none":
            self.unpriced_runs += 1

    def merge(self, other: UsageTotals) -> None:
        self.runs += other.runs
        self.input_tokens += other.input_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd = round(self.cost_usd + other.cost_usd, 6)
        self.unpriced_runs += other.unpriced_runs

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def short(self) -> str:
        """One line for summaries: "12.3k tokens in, 1.1k out (4.0k cached), $0.0421"."""
        cached = f" ({_k(self.cached_input_tokens)} cached)" if self.cached_input_tokens else ""
        cost = f"${self.cost_usd:.4f}" + (" + unpriced runs" if self.unpriced_runs else "")
        return f"{_k(self.input_tokens)} tokens in, {_k(self.output_tokens)} out{cached}, {cost}"


class BatchUsage(BaseModel):
    batch_id: str
    total: UsageTotals
    tickets: dict[str, UsageTotals]


def _k(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def run_usages(state: BatchState, ticket_id: str) -> list[TokenUsage]:
    """The usage record of every agent run of a ticket in this batch (dry runs only in a dry run)."""
    folder = layout.runs_dir(ticket_id)
    out = []
    for name in state.artifacts.list(folder):
        if state.dry_run is False and name.startswith(layout.DRY_RUN_PREFIX):
            continue
        usage = state.artifacts.read_model(f"{folder}/{name}/{layout.RUN_USAGE}", TokenUsage)
        if usage is not None:
            out.append(usage)
    return out


def ticket_usage(state: BatchState, ticket_id: str) -> UsageTotals:
    totals = UsageTotals()
    for usage in run_usages(state, ticket_id):
        totals.add(usage)
    return totals


def batch_usage(state: BatchState) -> BatchUsage:
    """Totals per ticket and for the whole batch (for the dashboard, the review page, MR summaries)."""
    tickets = {
        ticket_id: ticket_usage(state, ticket_id)
        for ticket_id in state.artifacts.list(layout.TICKETS)
        if is_ticket_id(ticket_id)
    }
    total = UsageTotals()
    for totals in tickets.values():
        total.merge(totals)
    return BatchUsage(
        batch_id=state.artifacts.batch_id,
        total=total,
        tickets={k: v for k, v in tickets.items() if v.runs},
    )


def over_budget(state: BatchState, ticket_id: str, budget: Budget) -> str | None:
    """Why the next checkpoint of `ticket_id` must not start, or None when the budgets allow it."""
    if budget.per_ticket_usd is None and budget.per_night_usd is None:
        return None
    if budget.per_ticket_usd is not None:
        spent = ticket_usage(state, ticket_id).cost_usd
        if spent >= budget.per_ticket_usd:
            return f"ticket budget reached: ${spent:.4f} spent of ${budget.per_ticket_usd:.4f}"
    if budget.per_night_usd is not None:
        total = batch_usage(state).total
        expected = total.cost_usd / total.runs if total.runs else 0.0
        if total.cost_usd + expected > budget.per_night_usd:
            return (
                f"night budget: ${total.cost_usd:.4f} spent, a checkpoint costs about ${expected:.4f}, "
                f"the budget is ${budget.per_night_usd:.4f}"
            )
    return None
