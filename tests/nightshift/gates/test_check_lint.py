"""The lint check: only findings the change introduced, under the base's rules."""

from __future__ import annotations

from tests.nightshift.gates.helpers import BASE, CALC, gate, kinds, result

UNUSED = CALC.replace(
    "from __future__ import annotations\n", "from __future__ import annotations\n\nimport os\n"
)


def test_clean_change_passes_and_old_findings_do_not_count(repo, config) -> None:
    base = repo.commit(BASE | {"calc.py": UNUSED})  # F401 already there
    # Lines added above the old finding move it: matched by rule and line text, not number.
    head = repo.commit(
        {"calc.py": UNUSED.replace('"""Arithmetic."""\n', '"""Arithmetic.\n\nSmall helpers.\n"""\n')}
    )
    report = gate(repo.path, base, head, config, "lint")
    check = result(report, "lint")
    assert check.status == "passed", report.flags
    assert check.details["introduced"] == 0 and check.details["at_head"] == 1


def test_introduced_finding_is_flagged_with_line(repo, config) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": UNUSED})
    report = gate(repo.path, base, head, config, "lint")
    assert result(report, "lint").status == "failed"
    assert [(f.kind, f.where(), f.rule) for f in report.flags] == [("lint", "calc.py:5", "F401")]
    assert report.score == 75  # lint alone: 1 - 0.25 per finding


def test_noqa_added_by_the_change_hides_nothing(repo, config) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": UNUSED.replace("import os\n", "import os  # noqa: F401\n")})
    report = gate(repo.path, base, head, config, "lint")
    assert kinds(report) == {"lint"}


def test_the_change_cannot_turn_rules_off(repo, config) -> None:
    base = repo.commit(BASE)
    head = repo.commit(
        {"calc.py": UNUSED, "pyproject.toml": BASE["pyproject.toml"].replace('["E", "F"]', '["E"]')}
    )
    report = gate(repo.path, base, head, config, "lint")
    assert kinds(report) == {"lint"}
    assert "the base's pyproject.toml" in result(report, "lint").reason
