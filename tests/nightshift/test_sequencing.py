import datetime as dt
import random

import pytest

from nightshift.models import Ticket
from nightshift.sequencing import night_length, prioritise_carryovers, run_order, sequence


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


def test_a_cycle_error_names_the_cycle():
    with pytest.raises(ValueError, match="dependency cycle P-1 -> P-2 -> P-3 -> P-1"):
        sequence([t("P-1", deps=["P-2"]), t("P-2", deps=["P-3"]), t("P-3", deps=["P-1"]), t("P-4")])


def test_a_10000_ticket_chain_is_ordered_without_recursion():
    n = 10_000
    tickets = [t(f"C-{i}", deps=[f"C-{i + 1}"] if i + 1 < n else []) for i in range(n)]
    assert ids(sequence(tickets)) == [f"C-{i}" for i in reversed(range(n))]
    tickets[-1] = t(f"C-{n - 1}", deps=["C-0"])
    with pytest.raises(ValueError, match="dependency cycle") as raised:
        sequence(tickets)
    assert str(raised.value).count("->") == n


def test_prioritise_carryovers_keeps_dependencies_first():
    order = ["A", "B", "C", "D", "E"]
    deps = {"D": ["B"], "E": ["D"]}
    assert prioritise_carryovers(order, deps, {"E"}) == ["B", "D", "E", "A", "C"]
    assert prioritise_carryovers(order, deps, set()) == order
    assert prioritise_carryovers(order, deps, {"C", "A"}) == ["A", "C", "B", "D", "E"]


def test_carry_overs_go_first_before_the_cap_and_the_rest_is_deferred():
    tickets = [t("P-1", "high"), t("P-2", "low"), t("P-3", "low", ["P-2"]), t("P-4", "medium")]
    order = run_order(tickets, 3, carried={"P-3"})
    assert ids(order.run) == ["P-2", "P-3", "P-1"]
    assert ids(order.deferred) == ["P-4"]
    assert ids(sequence(tickets, 3, carried={"P-3"})) == ids(order.run)
    capped = run_order(tickets, 1, carried={"P-3"})
    assert ids(capped.run) == ["P-2"] and ids(capped.deferred) == ["P-3", "P-1", "P-4"]


# -- deadline-aware: the end of the night and the number of agents ------------------------------------

NIGHT = dt.timedelta(hours=12)


def c(tid, priority="medium", complexity="medium", deps=()):
    return Ticket(id=tid, priority=priority, complexity=complexity, dependencies=list(deps))


def test_a_night_where_everything_fits_keeps_the_spec_order():
    tickets = [c("P-3", "low"), c("P-2", "high", deps=["P-3"]), c("P-1", "medium"), c("P-4", "high")]
    assert ids(sequence(tickets, horizon=NIGHT, parallel_agents=3)) == ids(sequence(tickets))


def test_work_that_cannot_finish_before_the_end_goes_after_work_that_can():
    # One agent, one hour left: the large high ticket (~90 min) cannot finish; the medium one can.
    tickets = [c("H-1", "high", "large"), c("M-1", "medium", "medium")]
    assert ids(sequence(tickets)) == ["H-1", "M-1"]
    assert ids(sequence(tickets, horizon=dt.timedelta(minutes=60), parallel_agents=1)) == ["M-1", "H-1"]


def test_a_low_priority_dependency_of_urgent_work_runs_first_when_the_night_is_short():
    tickets = [c("L-1", "low", "small"), c("H-2", "high", deps=["L-1"]), c("M-3", "medium")]
    assert ids(sequence(tickets)) == ["M-3", "L-1", "H-2"]  # H-2 would finish after the end
    assert ids(sequence(tickets, horizon=dt.timedelta(minutes=70))) == ["L-1", "H-2", "M-3"]


def test_deadline_aware_orders_keep_dependencies_first_and_every_ticket():
    rng = random.Random(3)
    for _ in range(50):
        tickets = []
        for i in range(rng.randint(2, 12)):
            deps = [f"P-{rng.randrange(i)}"] if i and rng.random() < 0.5 else []
            tickets.append(
                c(
                    f"P-{i}",
                    rng.choice(["high", "medium", "low"]),
                    rng.choice(["small", "medium", "large"]),
                    deps,
                )
            )
        night = dt.timedelta(minutes=rng.randint(20, 300))
        order = ids(sequence(tickets, horizon=night, parallel_agents=rng.randint(1, 3)))
        assert sorted(order) == sorted(t.id for t in tickets)
        position = {tid: n for n, tid in enumerate(order)}
        for ticket in tickets:
            for dep in ticket.dependencies:
                assert position[dep] < position[ticket.id]


def test_deadline_aware_orders_do_not_depend_on_the_input_order():
    # Tickets waiting on work that cannot fit the night used to follow the order they came in.
    rng = random.Random(3)
    for _ in range(100):
        tickets = []
        for i in range(rng.randint(2, 12)):
            deps = [f"P-{rng.randrange(i)}"] if i and rng.random() < 0.5 else []
            tickets.append(c(f"P-{i}", rng.choice(["high", "low"]), rng.choice(["small", "large"]), deps))
        night = dt.timedelta(minutes=rng.randint(20, 300))
        agents = rng.randint(1, 3)
        forward = ids(sequence(tickets, horizon=night, parallel_agents=agents))
        assert ids(sequence(tickets[::-1], horizon=night, parallel_agents=agents)) == forward


def test_the_cap_applies_after_deadline_aware_ordering():
    tickets = [c("H-1", "high", "large"), c("M-1", "medium"), c("M-2", "medium", deps=["H-1"])]
    assert ids(sequence(tickets, max_tickets=1, horizon=dt.timedelta(minutes=60))) == ["M-1"]


def test_night_length_wraps_midnight():
    assert night_length("18:00", "06:00") == dt.timedelta(hours=12)
    assert night_length("01:30", "06:00") == dt.timedelta(hours=4, minutes=30)
