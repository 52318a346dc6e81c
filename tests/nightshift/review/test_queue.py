from __future__ import annotations

from nightshift.models import TicketState
from nightshift.review.queue import Rule, build_queue, security_status
from tests.nightshift.review.fixtures import escalation, outcome, report, secret_flag, ticket, view


def _order(items: list) -> list[tuple[str, Rule]]:
    return [(i.ticket_id, i.rule) for i in items]


def test_security_flags_come_first_even_before_high_priority_and_high_scores() -> None:
    batch = view(
        [ticket("P-1", "high"), ticket("P-2"), ticket("P-3")],
        [outcome("P-1"), outcome("P-2"), outcome("P-3")],
        {"P-1": report(99), "P-2": report(95), "P-3": report(40, flags=[secret_flag()])},
    )
    items = build_queue(batch)
    assert _order(items)[0] == ("P-3", Rule.SECURITY)
    assert "src/app.py:3" in items[0].why


def test_high_priority_before_high_quality() -> None:
    batch = view(
        [ticket("P-1"), ticket("P-2", "high")],
        [outcome("P-1"), outcome("P-2")],
        {"P-1": report(99), "P-2": report(60)},
    )
    assert _order(build_queue(batch)) == [("P-2", Rule.HIGH_PRIORITY), ("P-1", Rule.HIGH_QUALITY)]


def test_score_over_90_before_escalations_and_90_is_not_over_90() -> None:
    batch = view(
        [ticket("P-1"), ticket("P-2"), ticket("P-3")],
        [outcome("P-1"), outcome("P-2"), outcome("P-3", TicketState.ESCALATED)],
        {"P-1": report(90), "P-2": report(91)},
        [escalation("P-3")],
    )
    assert _order(build_queue(batch)) == [
        ("P-2", Rule.HIGH_QUALITY),
        ("P-3", Rule.ESCALATION),
        ("P-1", Rule.REWORK),
    ]


def test_escalations_before_lower_quality_and_unscored_last() -> None:
    batch = view(
        [ticket("P-1"), ticket("P-2"), ticket("P-3"), ticket("P-4")],
        [
            outcome("P-1"),
            outcome("P-2", TicketState.PARTIAL),
            outcome("P-3", TicketState.ESCALATED),
            outcome("P-4"),
        ],
        {"P-1": report(70), "P-4": report(85)},
        [escalation("P-3")],
    )
    items = build_queue(batch)
    assert _order(items) == [
        ("P-3", Rule.ESCALATION),
        ("P-4", Rule.REWORK),
        ("P-1", Rule.REWORK),
        ("P-2", Rule.REWORK),
    ]
    assert items[-1].why == "not scored (no gate report)" and items[-1].score is None
    assert [i.position for i in items] == [1, 2, 3, 4]


def test_a_ticket_matching_several_rules_takes_the_first() -> None:
    # high priority, score 99 and a security flag: rules 1, 2 and 3 all match; rule 1 places it.
    batch = view([ticket("P-1", "high")], [outcome("P-1")], {"P-1": report(99, flags=[secret_flag()])})
    [item] = build_queue(batch)
    assert item.rule == Rule.SECURITY
    # high priority and escalated: rules 2 and 4 match; rule 2 places it.
    batch = view(
        [ticket("P-2", "high")], [outcome("P-2", TicketState.ESCALATED)], escalations=[escalation("P-2")]
    )
    [item] = build_queue(batch)
    assert item.rule == Rule.HIGH_PRIORITY and item.kind == "escalation"


def test_ties_break_deterministically() -> None:
    tickets = [
        ticket("P-10"),
        ticket("P-9"),
        ticket("P-2", "low"),
        ticket("Q-1"),
        ticket("P-5", "high"),
        ticket("P-6", "high"),
    ]
    outcomes = [outcome(t.id) for t in tickets]
    reports = {
        # security: the critical flag first, then more flags first
        "P-10": report(50, flags=[secret_flag(severity="medium")]),
        "P-9": report(50, flags=[secret_flag(severity="medium"), secret_flag(line=9, severity="low")]),
        "Q-1": report(50, flags=[secret_flag(severity="critical")]),
        # same score, different ticket priority: medium before low... both unflagged rework
        "P-2": report(80),
        # high priority: the higher score first
        "P-5": report(70),
        "P-6": report(88),
    }
    batch = view(tickets, outcomes, reports)
    first = _order(build_queue(batch))
    assert first == [
        ("Q-1", Rule.SECURITY),
        ("P-9", Rule.SECURITY),
        ("P-10", Rule.SECURITY),
        ("P-6", Rule.HIGH_PRIORITY),
        ("P-5", Rule.HIGH_PRIORITY),
        ("P-2", Rule.REWORK),
    ]
    # the same batch, read again in another order, gives the same queue
    again = view(list(reversed(tickets)), list(reversed(outcomes)), reports)
    assert [t for t, _ in _order(build_queue(again))][:3] == ["Q-1", "P-9", "P-10"]


def test_equal_everything_falls_back_to_manifest_sequence_then_numeric_id() -> None:
    batch = view(
        [ticket("P-10"), ticket("P-9")],
        [outcome("P-9"), outcome("P-10")],
        {"P-9": report(80), "P-10": report(80)},
    )
    assert [i.ticket_id for i in build_queue(batch)] == ["P-10", "P-9"]  # manifest sequence
    batch.manifest.tickets.clear()  # no sequence known: P-9 before P-10 (numbers compare as numbers)
    assert [i.ticket_id for i in build_queue(batch)] == ["P-9", "P-10"]


def test_security_is_ok_only_when_both_scans_ran_clean() -> None:
    assert security_status(None).label == "not scanned"
    assert security_status(report(95)).label == "OK"
    assert security_status(report(95, not_run=("secrets",))).label == "partly scanned"
    assert security_status(report(95, not_run=("security", "secrets"))).label == "not scanned"
    assert security_status(report(40, flags=[secret_flag()], not_run=("security",))).label == "1"


def test_escalation_question_prefers_the_agents_questions() -> None:
    batch = view([ticket("P-1")], [], escalations=[escalation("P-1", questions=["REST or RPC?"])])
    [item] = build_queue(batch)
    assert item.question == "REST or RPC?"
