"""Run order of a large backlog: `sequence` over 10,000 tickets with random DAG dependencies.

Target: under a second for 10,000 tickets. Intake sequences at most a few thousand candidates before
the max_tickets cap, so this is ten times the realistic size; it must stay linear-ish, not quadratic.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from benchmarks._harness import (
    Case,
    MiB,
    Result,
    Settings,
    check,
    count,
    median_time,
    peak_memory,
    seconds,
    size,
)
from nightshift.models import ManifestTicket
from nightshift.sequencing import sequence


def random_dag(n: int, seed: int = 7) -> list[ManifestTicket]:
    """n tickets, each depending on 0-3 earlier ones (so no cycle), handed over in shuffled order."""
    rng = random.Random(seed)
    tickets = []
    for i in range(1, n + 1):
        deps = rng.sample(range(1, i), min(i - 1, rng.choice([0, 0, 1, 1, 2, 3])))
        tickets.append(
            ManifestTicket(
                id=f"PROJ-{i}",
                priority=rng.choice(["high", "medium", "low"]),
                dependencies=[f"PROJ-{d}" for d in deps],
            )
        )
    rng.shuffle(tickets)
    return tickets


def _respects_dependencies(order: list[ManifestTicket]) -> bool:
    seen: set[str] = set()
    for ticket in order:
        if any(dep not in seen for dep in ticket.dependencies):
            return False
        seen.add(ticket.id)
    return True


def bench_sequence(settings: Settings) -> Iterator[Result]:
    n = settings.size(10_000, 1000)
    tickets = random_dag(n)
    edges = sum(len(t.dependencies) for t in tickets)
    timing = median_time(lambda: sequence(tickets), settings.repeats(5, 1), budget=5)
    peak, _ = peak_memory(lambda: sequence(tickets))
    check(len(timing.value) == n and _respects_dependencies(timing.value), "the order breaks a dependency")
    yield Result(
        f"sequencing.{n}-tickets",
        f"{count(n)} tickets, {count(edges)} deps: {seconds(timing.seconds)} ({timing.how}), "
        f"peak {size(peak)}",
        "< 1 s, < 64 MiB",
        timing.seconds < 1.0 and peak < 64 * MiB,
    )


CASES = [Case("sequencing.random-dag", bench_sequence)]
