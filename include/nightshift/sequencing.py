"""The order a batch runs its tickets in (pure function, deterministic).

Dependencies first; among tickets that are ready, higher priority first, then the ticket with the
longest chain of work waiting on it (it unblocks the most), then the id.

Given the end of the night (`horizon`) and the number of agents, the order is also deadline-aware: the
tickets are planned on paper the way the pool runs them (a free agent starts the first ready ticket of
the order), with agent time estimated by complexity, and the order that gets the most priority-weighted
work finished before the end wins. On a night where everything fits, every order finishes everything and
the spec's order above is kept unchanged.

Carry-overs from earlier batches then move to the front (with what they wait on), and the
`max_tickets` cap cuts the rest. Every caller gets its order from `run_order` (or `sequence`, its run
part); the topological sort underneath is the standard library's `graphlib.TopologicalSorter`.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Any, Generic, Protocol, TypeVar

from nightshift.graph import dependents, format_cycle
from nightshift.models import PRIORITY_RANK

#: Agent minutes a ticket is expected to take, by complexity (C0 + C1 + C2); unknown counts as medium.
ESTIMATED_MINUTES: dict[str, float] = {"small": 20.0, "medium": 45.0, "large": 90.0}
#: What a finished agent minute is worth, by priority: the value the planner maximises.
PRIORITY_VALUE: dict[str, int] = {"high": 3, "medium": 2, "low": 1}
#: Improve the plan by moving single tickets only up to this many tickets (the search is quadratic).
_LOCAL_SEARCH_MAX = 40


class Sequenceable(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def priority(self) -> str: ...
    @property
    def dependencies(self) -> Sequence[str]: ...


T = TypeVar("T", bound=Sequenceable)


@dataclass(frozen=True)
class RunOrder(Generic[T]):
    """The tickets that run, in order, and the ready ones the `max_tickets` cap left for a later batch."""

    run: list[T]
    deferred: list[T]


def sequence(
    tickets: Sequence[T],
    max_tickets: int | None = None,
    *,
    horizon: dt.timedelta | None = None,
    parallel_agents: int = 1,
    estimates: Mapping[str, float] | None = None,
    carried: Collection[str] = (),
) -> list[T]:
    """Return `tickets` in run order, capped at `max_tickets` (the run part of `run_order`)."""
    return run_order(
        tickets,
        max_tickets,
        horizon=horizon,
        parallel_agents=parallel_agents,
        estimates=estimates,
        carried=carried,
    ).run


def run_order(
    tickets: Sequence[T],
    max_tickets: int | None = None,
    *,
    horizon: dt.timedelta | None = None,
    parallel_agents: int = 1,
    estimates: Mapping[str, float] | None = None,
    carried: Collection[str] = (),
) -> RunOrder[T]:
    """The one run order of a batch: every caller (intake, the CLI, the benchmarks) comes through here.

    Dependencies on ids outside `tickets` are taken as already resolved (intake filters those).
    `horizon` (the agent time left in the night) and `parallel_agents` make the order deadline-aware;
    `estimates` maps complexity to agent minutes (default ESTIMATED_MINUTES). The ids in `carried`
    (carry-overs from earlier batches) run first, with what they wait on (see `prioritise_carryovers`).
    Then the cap: a ticket whose in-batch dependency was cut by it is cut too (and deferred).
    Raises ValueError naming the cycle on a dependency cycle.
    """
    by_id = {t.id: t for t in tickets}
    deps = {t.id: [d for d in t.dependencies if d in by_id] for t in tickets}
    order = _spec_order(by_id, deps)
    if horizon is not None and len(order) > 1:
        table = {**ESTIMATED_MINUTES, **(estimates or {})}
        minutes = {
            tid: table.get(str(getattr(t, "complexity", None) or "medium"), table["medium"])
            for tid, t in by_id.items()
        }
        plan = _NightPlan(deps, minutes, {k: t.priority for k, t in by_id.items()})
        order = plan.best_order(order, horizon.total_seconds() / 60, max(1, parallel_agents))
    if carried:
        order = prioritise_carryovers(order, deps, set(carried))

    kept: list[T] = []
    kept_ids: set[str] = set()
    for ticket_id in order:
        if max_tickets is not None and len(kept) >= max_tickets:
            break
        if all(d in kept_ids for d in deps[ticket_id]):
            kept.append(by_id[ticket_id])
            kept_ids.add(ticket_id)
    return RunOrder(run=kept, deferred=[by_id[t] for t in order if t not in kept_ids])


def prioritise_carryovers(
    order: Sequence[str], dependencies: Mapping[str, Sequence[str]], carried: set[str]
) -> list[str]:
    """Re-order `order` (a valid run order) so carried tickets and what they wait on come first.

    Within each group the original order holds, so dependencies still come before their dependents.
    """
    in_batch = set(order)
    deps = {t: [d for d in dependencies.get(t, ()) if d in in_batch] for t in order}
    first: set[str] = set()
    stack = [t for t in order if t in carried]
    while stack:  # a carried ticket's own dependencies move up with it
        ticket = stack.pop()
        if ticket not in first:
            first.add(ticket)
            stack.extend(deps[ticket])
    rank = {t: (0 if t in first else 1, i) for i, t in enumerate(order)}
    return _ordered(deps, rank.__getitem__)


class _Ready:
    """The tickets whose dependencies are done, smallest key first: Kahn's algorithm, the standard
    library's `graphlib.TopologicalSorter` under a heap. Iterative, so a 10,000-ticket chain is fine.

    A ticket taken with `pop` but never marked `done` keeps what waits on it out (a planned ticket that
    does not fit the night).
    """

    def __init__(self, deps: Mapping[str, Iterable[str]], key: Callable[[str], Any]) -> None:
        self._sorter: TopologicalSorter[str] = TopologicalSorter(deps)
        try:
            self._sorter.prepare()
        except CycleError as exc:
            raise _named(exc) from None
        self._key = key
        self._heap: list[tuple[Any, str]] = []
        self._push(self._sorter.get_ready())

    def __bool__(self) -> bool:
        return bool(self._heap)

    def pop(self) -> str:
        return heapq.heappop(self._heap)[1]

    def done(self, ticket_id: str) -> None:
        self._sorter.done(ticket_id)
        self._push(self._sorter.get_ready())

    def _push(self, ready: Iterable[str]) -> None:
        for ticket_id in ready:
            heapq.heappush(self._heap, (self._key(ticket_id), ticket_id))


def _named(error: CycleError) -> ValueError:
    """graphlib lists each ticket before the one that waits on it; name the cycle the way manifest
    validation does (a ticket, then what it waits on, back to the first)."""
    return ValueError(f"dependency cycle {format_cycle(list(reversed(error.args[1])))}")


def _topological(deps: Mapping[str, Iterable[str]]) -> list[str]:
    """Any order with dependencies first (graphlib's own), for passes that need no tie-break."""
    try:
        return list(TopologicalSorter(deps).static_order())
    except CycleError as exc:
        raise _named(exc) from None


def _ordered(deps: Mapping[str, Iterable[str]], key: Callable[[str], Any]) -> list[str]:
    """Every ticket of `deps`, dependencies first, the smallest key first among the ready ones.

    `deps` names only tickets of the graph. Raises ValueError naming the cycle on a cycle.
    """
    ready = _Ready(deps, key)
    out: list[str] = []
    while ready:
        ticket_id = ready.pop()
        out.append(ticket_id)
        ready.done(ticket_id)
    return out


def longest_waiting_chain(deps: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """For each ticket, the number of tickets on the longest chain that waits on it (0 for a leaf)."""
    rev = dependents(deps)
    chain: dict[str, int] = {}
    for node in reversed(_topological(deps)):
        chain[node] = max((chain[d] + 1 for d in rev[node]), default=0)
    return chain


def _spec_order(by_id: Mapping[str, Sequenceable], deps: Mapping[str, list[str]]) -> list[str]:
    """Dependencies first; then priority, the longest chain waiting on the ticket, the id."""
    chain = longest_waiting_chain(deps)
    return _ordered(deps, lambda tid: (PRIORITY_RANK[by_id[tid].priority], -chain[tid], tid))


def night_length(start: str, end: str) -> dt.timedelta:
    """The time from `start` to the next `end` ("HH:MM" local times), e.g. 18:00 -> 06:00 is 12 h."""

    def minutes(text: str) -> int:
        hours, mins = text.split(":")
        return int(hours) * 60 + int(mins)

    return dt.timedelta(minutes=(minutes(end) - minutes(start)) % (24 * 60) or 24 * 60)


class _NightPlan:
    """Orders planned against the end of the night with estimated agent time (list scheduling)."""

    def __init__(
        self, deps: Mapping[str, list[str]], minutes: Mapping[str, float], priority: Mapping[str, str]
    ) -> None:
        self.deps = deps
        self.rev = dependents(deps)
        self.minutes = minutes
        self.rank = {k: PRIORITY_RANK[p] for k, p in priority.items()}
        self.value = {k: PRIORITY_VALUE[p] * minutes[k] for k, p in priority.items()}
        topo = _topological(deps)
        # A ticket is as urgent as the most urgent ticket waiting on it (it must run first), and the
        # agent time on the longest chain starting with it says how early it must start.
        self.inherited = dict(self.rank)
        self.chain_minutes: dict[str, float] = {}
        for node in reversed(topo):
            after = self.rev[node]
            self.inherited[node] = min([self.rank[node], *(self.inherited[d] for d in after)])
            self.chain_minutes[node] = minutes[node] + max(
                (self.chain_minutes[d] for d in after), default=0.0
            )

    def finished_value(self, order: Sequence[str], horizon: float, agents: int) -> float:
        """Priority-weighted minutes finished by `horizon` when a free agent starts the first ready ticket."""
        position = {tid: i for i, tid in enumerate(order)}
        ready = _Ready(self.deps, position.__getitem__)
        running: list[tuple[float, str]] = []
        free, now, value = agents, 0.0, 0.0
        while True:
            while free and ready and now < horizon:
                tid = ready.pop()
                end = now + self.minutes[tid]
                heapq.heappush(running, (end, tid))
                free -= 1
                if end <= horizon:
                    value += self.value[tid]
            if not running or now >= horizon:
                return value
            now = running[0][0]
            while running and running[0][0] == now:
                _, done = heapq.heappop(running)
                free += 1
                ready.done(done)

    def greedy(self, horizon: float, agents: int, inherit: bool) -> list[str]:
        """Start, whenever an agent is free, the most urgent ready ticket that still fits the night;
        tickets that no longer fit go last (in case the estimates were pessimistic)."""

        def key(tid: str) -> tuple[int, float, int, str]:
            rank = self.inherited[tid] if inherit else self.rank[tid]
            return (rank, -self.chain_minutes[tid], self.rank[tid], tid)

        ready = _Ready(self.deps, key)
        running: list[tuple[float, str]] = []
        started: list[str] = []
        late: list[str] = []
        free, now = agents, 0.0
        while ready or running:
            while free and ready:
                tid = ready.pop()
                if now + self.minutes[tid] > horizon:
                    late.append(tid)  # later is later still: it never fits again
                    continue
                heapq.heappush(running, (now + self.minutes[tid], tid))
                started.append(tid)
                free -= 1
            if not running:
                break
            now = running[0][0]
            while running and running[0][0] == now:
                _, done = heapq.heappop(running)
                free += 1
                ready.done(done)
        placed = set(started) | set(late)
        rest = [t for t in _ordered(self.deps, key) if t not in placed]  # waiting on a late ticket
        return _dependencies_first([*started, *late, *rest], self.deps)

    def best_order(self, spec: list[str], horizon: float, agents: int) -> list[str]:
        """The spec's order unless another order gets more valuable work done before the end."""
        best, best_value = spec, self.finished_value(spec, horizon, agents)
        for candidate in (self.greedy(horizon, agents, True), self.greedy(horizon, agents, False)):
            value = self.finished_value(candidate, horizon, agents)
            if value > best_value + 1e-9:
                best, best_value = candidate, value
        if len(best) <= _LOCAL_SEARCH_MAX:
            best = self._improve(best, best_value, horizon, agents)
        return best

    def _improve(self, order: list[str], value: float, horizon: float, agents: int) -> list[str]:
        """Move one ticket at a time to wherever it adds most value, keeping dependencies first."""
        improved = True
        while improved:
            improved = False
            for tid in list(order):
                rest = [t for t in order if t != tid]
                after = max((rest.index(d) + 1 for d in self.deps[tid]), default=0)
                before = min((rest.index(d) for d in self.rev[tid]), default=len(rest))
                for at in range(after, before + 1):
                    candidate = [*rest[:at], tid, *rest[at:]]
                    if candidate == order:
                        continue
                    candidate_value = self.finished_value(candidate, horizon, agents)
                    if candidate_value > value + 1e-9:
                        order, value, improved = candidate, candidate_value, True
                        break
        return order


def _dependencies_first(order: list[str], deps: Mapping[str, list[str]]) -> list[str]:
    """`order` with each ticket moved after its dependencies where needed (stable otherwise)."""
    position = {tid: i for i, tid in enumerate(order)}
    return _ordered(deps, position.__getitem__)
