"""The order a batch runs its tickets in (pure function, deterministic).

Dependencies first; among tickets that are ready, higher priority first, then the ticket with the
longest chain of work waiting on it (it unblocks the most), then the id.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Protocol, TypeVar

from nightshift.graph import dependents, longest_waiting_chain
from nightshift.models import PRIORITY_RANK


class Sequenceable(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def priority(self) -> str: ...
    @property
    def dependencies(self) -> Sequence[str]: ...


T = TypeVar("T", bound=Sequenceable)


def sequence(tickets: Sequence[T], max_tickets: int | None = None) -> list[T]:
    """Return `tickets` in run order, capped at `max_tickets`.

    Dependencies on ids outside `tickets` are taken as already resolved (intake filters those).
    A ticket whose in-batch dependency was cut by the cap is cut too.
    Raises ValueError on a cycle.
    """
    by_id = {t.id: t for t in tickets}
    deps = {t.id: [d for d in t.dependencies if d in by_id] for t in tickets}
    chain = longest_waiting_chain(deps)
    rev = dependents(deps)
    waiting = {k: len(v) for k, v in deps.items()}

    def key(ticket_id: str) -> tuple[int, int, str]:
        return (PRIORITY_RANK[by_id[ticket_id].priority], -chain[ticket_id], ticket_id)

    heap = [key(k) for k, n in waiting.items() if n == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        *_, ticket_id = heapq.heappop(heap)
        order.append(ticket_id)
        for nxt in rev[ticket_id]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(heap, key(nxt))

    kept: list[T] = []
    kept_ids: set[str] = set()
    for ticket_id in order:
        if max_tickets is not None and len(kept) >= max_tickets:
            break
        if all(d in kept_ids for d in deps[ticket_id]):
            kept.append(by_id[ticket_id])
            kept_ids.add(ticket_id)
    return kept
