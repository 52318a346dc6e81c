from __future__ import annotations

import pytest

from nightshift.gates.report import CheckResult, Flag, GateReport, load_report


def _report(**kw: object) -> GateReport:
    base = {
        "base": "a" * 40,
        "head": "b" * 40,
        "score": 80,
        "checks": [CheckResult(name="tests", status="passed")],
    }
    base.update(kw)
    return GateReport.model_validate(base)


def test_round_trip_and_cli_shape() -> None:
    report = _report(flags=[Flag(kind="secret", file="x.py", line=3, message="token")])
    again = load_report(report.model_dump_json())
    assert again == report
    out = again.cli_json()
    assert set(out) == {"score", "checks", "flags", "summary_markdown"}
    assert out["flags"] == [{"kind": "secret", "file": "x.py", "line": 3, "message": "token"}]
    assert [f.where() for f in again.security_flags] == ["x.py:3"]


def test_unknown_major_version_refused() -> None:
    text = _report().model_dump_json().replace('"schema_version":"1.0"', '"schema_version":"2.0"')
    with pytest.raises(ValueError, match=r"schema 2\.0"):
        load_report(text)


@pytest.mark.parametrize(("score", "band"), [(91, "high"), (90, "medium"), (70, "medium"), (69, "low")])
def test_band(score: int, band: str) -> None:
    assert _report(score=score).band() == band


def test_unknown_flag_refused() -> None:
    with pytest.raises(ValueError):
        Flag.model_validate({"kind": "vibes"})
