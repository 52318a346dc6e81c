import pytest

from nightshift.models import Ticket
from nightshift.sequencing import sequence


def t(tid, priority="medium", deps=()):
    return Ticket(id=tid, priority=priority, dependencies=list(deps))


def ids(tickets):
    return [x.id for x in tickets]


def test_dependencies_first_then_priority_then_id():
    tickets = [t("P-3", "low"), t("P-2", "high", ["P-3"]), t("P-1", "medium"), t("P-4", "high")]
    assert ids(sequence(tickets)) == ["P-4", "P-1", "P-3", "P-2"]


def test_longest_waiting_chain_breaks_priority_ties():
    tickets = [t("A-1"), t("B-1"), t("B-2", deps=["B-1"]), t("B-3", deps=["B-2"])]
    assert ids(sequence(tickets)) == ["B-1", "B-2", "A-1", "B-3"]


def test_deterministic_whatever_the_input_order():
    tickets = [
        t(f"P-{i}", ["high", "medium", "low"][i % 3], [f"P-{i - 2}"] if i > 2 else []) for i in range(1, 12)
    ]
    expected = ids(sequence(tickets))
    assert ids(sequence(list(reversed(tickets)))) == expected
    position = {tid: n for n, tid in enumerate(expected)}
    for ticket in tickets:
        for dep in ticket.dependencies:
            assert position[dep] < position[ticket.id]


def test_cap_never_keeps_a_ticket_whose_dependency_was_cut():
    tickets = [t("P-1", "low"), t("P-2", "high", ["P-1"]), t("P-3", "high"), t("P-4", "high")]
    capped = ids(sequence(tickets, max_tickets=2))
    assert capped == ["P-3", "P-4"]
    assert ids(sequence(tickets, max_tickets=3)) == ["P-3", "P-4", "P-1"]


def test_outside_dependencies_count_as_resolved_and_cycles_raise():
    assert ids(sequence([t("P-1", deps=["DONE-1"])])) == ["P-1"]
    with pytest.raises(ValueError):
        sequence([t("P-1", deps=["P-2"]), t("P-2", deps=["P-1"])])
