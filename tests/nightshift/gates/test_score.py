"""The score: weights, not_run excluded, partial credit, caps."""

from __future__ import annotations

from nightshift.gates.config import GatesConfig
from nightshift.gates.report import CheckResult, Flag
from nightshift.gates.score import compute_score

CFG = GatesConfig()


def passed(name: str) -> CheckResult:
    return CheckResult(name=name, status="passed")


def failed(name: str, **details) -> CheckResult:
    return CheckResult(name=name, status="failed", details=details)


ALL = ["tests", "test_changes", "lint", "security", "secrets", "scope", "pipeline"]


def test_all_passed_is_100_and_counts_every_check() -> None:
    score = compute_score([passed(n) for n in ALL], [], CFG)
    assert (score.value, score.checks_counted, score.capped_by) == (100, 7, None)


def test_not_run_is_left_out_not_zero() -> None:
    checks = [passed(n) for n in ALL if n != "pipeline"] + [
        CheckResult(name="pipeline", status="not_run", reason="none")
    ]
    score = compute_score(checks, [], CFG)
    assert score.value == 100 and score.checks_counted == 6
    line = next(b for b in score.breakdown if b.check == "pipeline")
    assert line.weight == 0 and "not run" in line.note


def test_failed_tests_lose_their_weight() -> None:
    checks = [failed("tests") if n == "tests" else passed(n) for n in ALL]
    score = compute_score(checks, [Flag(kind="tests_failed", check="tests")], CFG)
    assert score.value == 60  # 60 of 100


def test_partial_credit() -> None:
    checks = [failed(n, introduced=2) if n in ("lint", "test_changes", "scope") else passed(n) for n in ALL]
    flags = [
        Flag(kind="lint", check="lint"),
        Flag(kind="lint", check="lint"),
        Flag(kind="no_tests", check="test_changes"),
        Flag(kind="out_of_scope", check="scope"),
    ]
    score = compute_score(checks, flags, CFG)
    # tests 40 + lint 10*0.5 + test_changes 15*0.5 + scope 20*0.25 + pipeline 15 = 72.5
    assert score.value == 72


def test_caps_outside_the_weights() -> None:
    checks = [failed(n) if n in ("security", "secrets") else passed(n) for n in ALL]
    high = Flag(kind="security", severity="high", check="security")
    assert compute_score(checks, [high], CFG).value == 60
    medium = Flag(kind="security", severity="medium", check="security")
    assert compute_score(checks, [medium], CFG).value == 80
    secret = Flag(kind="secret", check="secrets")
    score = compute_score(checks, [high, secret], CFG)
    assert (score.value, score.capped_by) == (40, "secret: capped at 40")
    assert compute_score(checks, [Flag(kind="empty_change", check="scope")], CFG).value == 20


def test_a_cap_never_raises_a_score() -> None:
    checks = [failed(n) if n in ("tests", "scope", "test_changes") else passed(n) for n in ALL]
    flags = [
        Flag(kind="tests_failed", check="tests"),
        Flag(kind="protected_path", check="scope"),
        Flag(kind="tests_removed", check="test_changes"),
    ]
    score = compute_score(checks, flags, CFG)
    assert score.value == 25 and score.capped_by is None


def test_weights_are_configurable() -> None:
    cfg = GatesConfig.model_validate(
        {"weights": {"tests": 90, "lint": 10, "test_changes": 0, "scope": 0, "pipeline": 0}}
    )
    checks = [failed("lint", introduced=4)] + [passed(n) for n in ALL if n != "lint"]
    assert compute_score(checks, [Flag(kind="lint", check="lint")], cfg).value == 90


def test_a_check_past_its_timeout_is_not_run(tmp_path) -> None:
    import time

    from nightshift.gates.checks import CheckOutcome, run_check

    def slow(ctx) -> CheckOutcome:
        time.sleep(3)
        raise AssertionError("never used")

    outcome = run_check("scope", slow, None, timeout=0.2)  # type: ignore[arg-type]
    assert outcome.result.status == "not_run" and outcome.result.reason == "timed out after 0.2s"
