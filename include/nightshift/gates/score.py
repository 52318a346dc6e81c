"""The quality score: a deterministic 0-100 from the check results (no language model).

1. Each weighted check (Weights: tests 40, scope 20, test_changes 15, pipeline 15, lint 10) that ran
   counts; a `not_run` check is left out of both sides of the division, never counted as passed or 0.
2. A passed check earns its whole weight. A failed one earns 0, except partial credit (Credit): lint
   earns 1 - 0.25 x findings introduced; a check whose only flags are `no_tests` earns half, only
   `out_of_scope` a quarter.
3. score = round(100 x earned / weight of the counted checks); 0 when no weighted check ran.
4. Caps (Caps), outside the weights: a `secret` caps the score at 40, a high or critical `security`
   finding at 60, any other at 80, a `protected_path` at 50, an `empty_change` at 20. The lowest
   applicable cap wins and the report names it (`capped_by`).
The security and secrets checks carry no weight: a clean scan earns nothing, a finding caps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nightshift.gates.config import GatesConfig
from nightshift.gates.report import CheckResult, Flag, ScoreLine


@dataclass
class Score:
    value: int
    breakdown: list[ScoreLine] = field(default_factory=list)
    checks_counted: int = 0
    capped_by: str | None = None


def _fraction(check: CheckResult, flags: list[Flag], config: GatesConfig) -> tuple[float, str]:
    if check.status == "passed":
        return 1.0, ""
    kinds = {f.kind for f in flags}
    credit = config.credit
    if check.name == "lint" and kinds <= {"lint"}:
        found = check.details.get("introduced")
        count = found if isinstance(found, int) else len(flags)
        return max(0.0, 1.0 - credit.per_lint_finding * count), f"{count} finding(s) introduced"
    partial = {"no_tests": credit.no_tests, "out_of_scope": credit.out_of_scope}
    if kinds and kinds <= set(partial):
        return min(partial[k] for k in kinds), "partial credit: " + ", ".join(sorted(kinds))
    return 0.0, ", ".join(sorted(kinds)) or check.reason[:80]


def caps_for(flags: list[Flag], config: GatesConfig) -> list[tuple[int, str]]:
    caps = config.caps
    found: list[tuple[int, str]] = []
    for flag in flags:
        if flag.kind == "secret":
            found.append((caps.secret, "secret"))
        elif flag.kind == "security":
            high = flag.severity in ("high", "critical")
            found.append((caps.security_high, "security (high)") if high else (caps.security, "security"))
        elif flag.kind == "protected_path":
            found.append((caps.protected_path, "protected_path"))
        elif flag.kind == "empty_change":
            found.append((caps.empty_change, "empty_change"))
    return found


def compute_score(checks: list[CheckResult], flags: list[Flag], config: GatesConfig) -> Score:
    weights = config.weights.model_dump()
    breakdown: list[ScoreLine] = []
    total = earned = 0.0
    counted = 0
    for check in checks:
        weight = float(weights.get(check.name, 0.0))
        if check.status == "not_run":
            breakdown.append(
                ScoreLine(check=check.name, weight=0.0, earned=0.0, note=f"not run: {check.reason}"[:200])
            )
            continue
        counted += 1
        own = [f for f in flags if f.check == check.name]
        fraction, note = _fraction(check, own, config)
        if weight == 0:
            note = (
                "no weight: findings cap the score" if check.status == "failed" else "no weight (caps only)"
            )
        breakdown.append(
            ScoreLine(check=check.name, weight=weight, earned=round(weight * fraction, 2), note=note)
        )
        total += weight
        earned += weight * fraction
    value = round(100 * earned / total) if total > 0 else 0
    capped_by = None
    caps = caps_for(flags, config)
    if caps:
        cap, why = min(caps)
        if cap < value:
            value, capped_by = cap, f"{why}: capped at {cap}"
    return Score(value=int(value), breakdown=breakdown, checks_counted=counted, capped_by=capped_by)
