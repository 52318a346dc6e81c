"""Dependency graphs of tickets: the cycles, named for the people who fix them, and who waits on whom.

The run order itself is nightshift.sequencing (graphlib's topological sort). All functions here are
iterative, so a 10,000-ticket chain does not hit Python's recursion limit.
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
