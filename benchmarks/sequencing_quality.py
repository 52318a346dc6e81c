"""How much of a contended night's most valuable work a run order gets done: a list-scheduling simulator.

Seeded random batches (5-8 tickets, durations by complexity, dependency chains, priorities,
1-3 agents, a hard end of night shorter than the work) are run, on paper, the way the deployment runs
them: whenever an agent is free it starts the first ticket of the order whose dependencies have
finished (a ticket waiting on a dependency holds no agent). A ticket is worth its priority weight
times its agent time, and only if it finishes before the end of the night.

Three orders are compared: Nightshift's `sequence` (given the end of the night, as the manifest writer
gives it), naive priority order, and the optimum, found by branch and bound over every list schedule
(every order gives one, and every list schedule comes from some order). This simulator is the judge and
is written apart from the planner inside `nightshift.sequencing`, so the figure does not grade itself.

Figures: `sequencing_vs_optimum` (mean ratio, worst batch shown too) and `sequencing_vs_naive` (ratio of
the total value) over the contended batches.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from benchmarks._harness import Case, Result, Settings, check, count, seconds
from nightshift.models import PRIORITY_RANK, ManifestTicket
from nightshift.sequencing import ESTIMATED_MINUTES, sequence

#: What a finished minute of agent work is worth, by priority (the review queue's order of value).
WEIGHT: dict[str, int] = {"high": 3, "medium": 2, "low": 1}
TARGET_VS_OPTIMUM = 0.98
TARGET_VS_NAIVE = 1.15


@dataclass(frozen=True)
class Batch:
    tickets: tuple[ManifestTicket, ...]
    minutes: Mapping[str, float]
    agents: int
    horizon: float  # minutes from the start of the night

    @property
    def work(self) -> float:
        return sum(self.minutes.values())


def random_batch(rng: random.Random, depends: float = 0.45) -> Batch:
    """5-8 tickets; each depends on an earlier one with probability `depends` (0.45: about half, so
    chains form); work 1.2-2.5x the night."""
    while True:
        batch = _draw(rng, depends)
        if batch.work > batch.agents * batch.horizon:  # contended: not everything can finish
            return batch


def _draw(rng: random.Random, depends: float) -> Batch:
    n = rng.randint(5, 8)
    tickets = []
    for i in range(n):
        deps = [f"T-{rng.randrange(i)}"] if i and rng.random() < depends else []
        tickets.append(
            ManifestTicket(
                id=f"T-{i}",
                priority=rng.choices(["high", "medium", "low"], weights=[3, 4, 3])[0],
                complexity=rng.choices(["small", "medium", "large"], weights=[4, 4, 2])[0],
                dependencies=deps,
            )
        )
    rng.shuffle(tickets)
    minutes = {t.id: float(ESTIMATED_MINUTES[t.complexity]) for t in tickets}
    agents = rng.choice([1, 2, 2, 3])
    work = sum(minutes.values())
    horizon = max(max(minutes.values()), round(work / agents / rng.uniform(1.2, 2.5)))
    return Batch(tuple(tickets), minutes, agents, float(horizon))


def simulate(batch: Batch, order: Sequence[str]) -> float:
    """Priority-weighted agent minutes finished before the end, with the deployment's list scheduling."""
    deps = {t.id: [d for d in t.dependencies if d in batch.minutes] for t in batch.tickets}
    weight = {t.id: WEIGHT[t.priority] for t in batch.tickets}
    free = [0.0] * batch.agents
    finish: dict[str, float] = {}
    pending = list(order)
    value = 0.0
    while pending:
        now = heapq.heappop(free)
        if now >= batch.horizon:
            break
        chosen = next(
            (
                i
                for i, tid in enumerate(pending)
                if all(finish.get(d, float("inf")) <= now for d in deps[tid])
            ),
            None,
        )
        if chosen is None:  # nothing ready: this agent idles until the next ticket finishes
            later = [f for f in finish.values() if f > now]
            if not later:
                break
            heapq.heappush(free, min(later))
            continue
        tid = pending.pop(chosen)
        end = now + batch.minutes[tid]
        finish[tid] = end
        heapq.heappush(free, end)
        if end <= batch.horizon:
            value += weight[tid] * batch.minutes[tid]
    return value


def optimum(batch: Batch) -> float:
    """The best list schedule, by branch and bound on which ready ticket the next free agent starts."""
    deps = {t.id: [d for d in t.dependencies if d in batch.minutes] for t in batch.tickets}
    weight = {t.id: WEIGHT[t.priority] for t in batch.tickets}
    best = 0.0

    def bound(free: list[float], pending: frozenset[str], value: float) -> float:
        """Value so far plus the remaining agent time filled with the most valuable pending work."""
        room = sum(max(0.0, batch.horizon - f) for f in free)
        extra = 0.0
        for tid in sorted(pending, key=lambda x: -weight[x]):
            if min(free) + batch.minutes[tid] > batch.horizon:
                continue
            take = min(room, batch.minutes[tid])
            extra += weight[tid] * take
            room -= take
            if room <= 0:
                break
        return value + extra

    def search(free: list[float], finish: dict[str, float], pending: frozenset[str], value: float) -> None:
        nonlocal best
        best = max(best, value)
        if not pending or bound(free, pending, value) <= best:
            return
        now = min(free)
        if now >= batch.horizon:
            return
        rest = list(free)
        rest.remove(now)
        ready = [t for t in pending if all(finish.get(d, float("inf")) <= now for d in deps[t])]
        if not ready:
            later = [f for f in finish.values() if f > now]
            if later:
                search([*rest, min(later)], finish, pending, value)
            return
        for tid in sorted(ready, key=lambda x: -weight[x] * batch.minutes[x]):
            end = now + batch.minutes[tid]
            gain = weight[tid] * batch.minutes[tid] if end <= batch.horizon else 0.0
            search([*rest, end], {**finish, tid: end}, pending - {tid}, value + gain)

    search([0.0] * batch.agents, {}, frozenset(batch.minutes), 0.0)
    return best


def naive_order(batch: Batch) -> list[str]:
    """Priority, then id: what a queue sorted by the tracker's priority field would do."""
    return [t.id for t in sorted(batch.tickets, key=lambda t: (PRIORITY_RANK[t.priority], t.id))]


def nightshift_order(batch: Batch) -> list[str]:
    night = dt.timedelta(minutes=batch.horizon)
    return [t.id for t in sequence(batch.tickets, horizon=night, parallel_agents=batch.agents)]


@dataclass(frozen=True)
class Quality:
    batches: int
    vs_optimum_mean: float
    vs_optimum_worst: float
    vs_naive: float
    optimal_share: float
    optimum_vs_naive: float  # the ceiling of vs_naive for these batches
    blind_vs_optimum: float  # the spec's order without the end of the night (Nightshift before)


def measure(n_batches: int, seed: int = 14, depends: float = 0.45) -> Quality:
    rng = random.Random(seed)
    ratios: list[float] = []
    ours_total = naive_total = best_total = blind_total = 0.0
    for _ in range(n_batches):
        batch = random_batch(rng, depends)
        check(batch.work > batch.agents * batch.horizon, "a batch is not contended")
        best = optimum(batch)
        ours = simulate(batch, nightshift_order(batch))
        naive = simulate(batch, naive_order(batch))
        blind = simulate(batch, [t.id for t in sequence(batch.tickets)])
        check(ours <= best + 1e-9 and naive <= best + 1e-9, "an order beat the optimum: the search is wrong")
        ratios.append(ours / best if best else 1.0)
        ours_total += ours
        naive_total += naive
        best_total += best
        blind_total += blind
    return Quality(
        batches=n_batches,
        vs_optimum_mean=statistics.fmean(ratios),
        vs_optimum_worst=min(ratios),
        vs_naive=ours_total / naive_total if naive_total else 1.0,
        optimal_share=sum(1 for r in ratios if r >= 1 - 1e-9) / n_batches,
        optimum_vs_naive=best_total / naive_total if naive_total else 1.0,
        blind_vs_optimum=blind_total / best_total if best_total else 1.0,
    )


def bench_quality(settings: Settings) -> Iterator[Result]:
    import time

    started = time.perf_counter()
    q = measure(settings.size(300, 30))
    took = time.perf_counter() - started
    yield Result(
        "sequencing_vs_optimum",
        f"{q.vs_optimum_mean:.3f} mean, {q.vs_optimum_worst:.3f} worst, optimal on {q.optimal_share:.0%} "
        f"of {count(q.batches)} contended batches ({seconds(took)})",
        f">= {TARGET_VS_OPTIMUM}",
        q.vs_optimum_mean >= TARGET_VS_OPTIMUM,
        figure=round(q.vs_optimum_mean, 4),
    )
    yield Result(
        "sequencing_vs_naive",
        f"{q.vs_naive:.3f}x the priority-weighted work of naive priority order (the optimum is "
        f"{q.optimum_vs_naive:.3f}x; without the end of the night Nightshift got {q.blind_vs_optimum:.3f} "
        "of the optimum)",
        f">= {TARGET_VS_NAIVE}",
        q.vs_naive >= TARGET_VS_NAIVE,
        figure=round(q.vs_naive, 4),
    )
    # Dependencies narrow the gap between any order and naive priority order (a blocked ticket waits
    # whatever the order); on nights of independent tickets the end of the night is all that matters.
    free = measure(settings.size(300, 30), depends=0.0)
    yield Result(
        "sequencing.independent",
        f"{free.vs_naive:.3f}x naive on contended nights of independent tickets (the optimum is "
        f"{free.optimum_vs_naive:.3f}x; Nightshift {free.vs_optimum_mean:.3f} of the optimum)",
        f">= {TARGET_VS_NAIVE}",
        free.vs_naive >= TARGET_VS_NAIVE,
    )


CASES = [Case("sequencing.quality", bench_quality)]
