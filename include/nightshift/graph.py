"""Dependency graphs of tickets: cycles, topological order, the chains waiting on a ticket.

All functions are iterative, so a 10,000-ticket chain does not hit Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycles(deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Return each distinct cycle once, as a path that starts and ends on the same id.

    Edges to ids outside `deps` are ignored (reported elsewhere as unknown dependencies).
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(deps, white)
    cycles: list[list[str]] = []
    seen_cycles: set[frozenset[str]] = set()
    for root in sorted(deps):
        if colour[root] != white:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        colour[root] = grey
        while stack:
            node, i = stack[-1]
            edges = [d for d in deps[node] if d in deps]
            if i < len(edges):
                stack[-1] = (node, i + 1)
                nxt = edges[i]
                if colour[nxt] == white:
                    colour[nxt] = grey
                    stack.append((nxt, 0))
                    path.append(nxt)
                elif colour[nxt] == grey:
                    cycle = [*path[path.index(nxt) :], nxt]
                    key = frozenset(cycle)
                    if key not in seen_cycles:
                        seen_cycles.add(key)
                        cycles.append(cycle)
            else:
                colour[node] = black
                stack.pop()
                path.pop()
    return cycles


def format_cycle(cycle: Sequence[str]) -> str:
    return " -> ".join(cycle)


def dependents(deps: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Invert the graph: for each ticket, the tickets that wait on it."""
    out: dict[str, list[str]] = {k: [] for k in deps}
    for ticket, needs in deps.items():
        for dep in needs:
            if dep in out:
                out[dep].append(ticket)
    return out


def topological_order(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Any topological order (dependencies first). Raises ValueError on a cycle."""
    waiting = {k: len([d for d in v if d in deps]) for k, v in deps.items()}
    rev = dependents(deps)
    ready = sorted(k for k, n in waiting.items() if n == 0)
    order: list[str] = []
    while ready:
        node = ready.pop()
        order.append(node)
        for nxt in rev[node]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                ready.append(nxt)
    if len(order) != len(deps):
        raise ValueError("dependency graph has a cycle")
    return order


def longest_waiting_chain(deps: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """For each ticket, the number of tickets on the longest chain that waits on it (0 for a leaf)."""
    rev = dependents(deps)
    chain: dict[str, int] = {}
    for node in reversed(topological_order(deps)):
        chain[node] = max((chain[d] + 1 for d in rev[node]), default=0)
    return chain


def transitive_dependents(deps: Mapping[str, Sequence[str]], roots: Sequence[str]) -> set[str]:
    """Every ticket that waits, directly or not, on any of `roots` (roots excluded)."""
    rev = dependents(deps)
    found: set[str] = set()
    stack = [r for r in roots if r in rev]
    while stack:
        for nxt in rev[stack.pop()]:
            if nxt not in found:
                found.add(nxt)
                stack.append(nxt)
    return found
