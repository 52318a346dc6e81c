"""The security check: bandit and semgrep (local rules), new findings only."""

from __future__ import annotations

from pathlib import Path

from tests.nightshift.gates.helpers import BASE, CALC, gate, result

RUN = CALC.replace(
    "from __future__ import annotations\n", "from __future__ import annotations\n\nimport subprocess\n"
) + ('\n\ndef show(path: str) -> None:\n    subprocess.run(f"cat {path}", shell=True, check=False)\n')
SAFE_RUN = CALC.replace(
    "from __future__ import annotations\n", "from __future__ import annotations\n\nimport subprocess\n"
) + ('\n\ndef show(path: str) -> None:\n    subprocess.run(["cat", path], check=False)\n')


def test_bandit_clean_change_passes(repo, config) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": SAFE_RUN})
    report = gate(repo.path, base, head, config, "security")
    check = result(report, "security")
    assert check.status == "passed", report.flags
    assert check.details["below_threshold"] == 3  # B404, B603, B607: low severity, counted, no flag


def test_bandit_shell_injection_is_flagged(repo, config) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": RUN})
    report = gate(repo.path, base, head, config, "security")
    assert result(report, "security").status == "failed"
    flag = next(f for f in report.flags if f.rule == "bandit:B602")
    assert (flag.kind, flag.where(), flag.severity) == ("security", "calc.py:13", "high")
    assert report.score == 0 and report.checks_counted == 1  # no weighted check ran; security caps


def test_existing_finding_is_not_new_and_nosec_hides_nothing(repo, config) -> None:
    base = repo.commit(BASE | {"calc.py": RUN})
    head = repo.commit(
        {"calc.py": RUN + "\n\ndef again(p: str) -> None:\n    subprocess.call(p, shell=True)  # nosec\n"}
    )
    report = gate(repo.path, base, head, config, "security")
    assert [f.where() for f in report.flags if f.rule.startswith("bandit")] == ["calc.py:17"]


def test_semgrep_local_rules(repo, config, semgrep_exe: Path) -> None:
    config = config.model_copy(
        update={
            "security": config.security.model_copy(
                update={"semgrep": True, "semgrep_executable": str(semgrep_exe), "bandit": False}
            )
        }
    )
    base = repo.commit(BASE)
    clean = repo.commit({"calc.py": SAFE_RUN})
    report = gate(repo.path, base, clean, config, "security")
    assert result(report, "security").status == "passed", result(report, "security").reason
    assert result(report, "security").details["semgrep_new"] == 0
    dirty = repo.commit(
        {"calc.py": RUN + "\n\ndef calc(expr: str) -> int:\n    return eval(expr)  # nosemgrep\n"}, at=base
    )
    report = gate(repo.path, base, dirty, config, "security")
    assert result(report, "security").status == "failed"
    assert {f.rule for f in report.flags} == {"semgrep:subprocess-shell-true", "semgrep:eval-or-exec"}


def test_semgrep_missing_is_not_run_with_the_reason(repo, config, tmp_path) -> None:
    config = config.model_copy(
        update={
            "security": config.security.model_copy(
                update={"semgrep": True, "semgrep_executable": str(tmp_path / "none"), "bandit": False}
            )
        }
    )
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": RUN})
    check = result(gate(repo.path, base, head, config, "security"), "security")
    assert check.status == "not_run"
    assert "semgrep is not installed" in check.reason and "install-tools" in check.reason
