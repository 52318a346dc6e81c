"""`python -m nightshift gates check`: the same run_gates, the documented JSON."""

from __future__ import annotations

import json
import subprocess
import sys

from nightshift.cli import main
from tests.nightshift.gates.conftest import PYTEST
from tests.nightshift.gates.helpers import BASE, CALC, CALC_TESTS, PYPROJECT, gate, result

TICKET_MD = """---
id: PROJ-3
title: Add sub
estimated_files: [calc.py, tests/test_calc.py]
---
Subtract.

## Acceptance criteria
- sub(3, 2) == 1
"""


def test_check_json(repo, tmp_path, toolchain, capsys) -> None:
    base = repo.commit(BASE | {".nightshift/gates.yaml": "tests:\n  command: exit 7\n"})
    head = repo.commit({"calc.py": CALC + "\nimport os\n"})
    (tmp_path / "t.md").write_text(TICKET_MD)
    (tmp_path / "gates.yaml").write_text("gates:\n  security:\n    semgrep: false\n")
    code = main(
        [
            "gates",
            "check",
            "--repo",
            str(repo.path),
            "--base",
            base,
            "--head",
            head,
            "--ticket",
            str(tmp_path / "t.md"),
            "--test-command",
            PYTEST,
            "--toolchain",
            str(toolchain),
            "--config",
            str(tmp_path / "gates.yaml"),
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"score", "checks", "flags", "summary_markdown"}
    assert [c["name"] for c in out["checks"]] == [
        "tests",
        "test_changes",
        "lint",
        "security",
        "secrets",
        "scope",
        "pipeline",
    ]
    assert {c["status"] for c in out["checks"] if c["name"] in ("tests", "lint", "test_changes")} == {
        "passed",
        "failed",
    }
    assert set(out["checks"][0]) == {"name", "status", "reason", "duration_s"}
    assert out["checks"][0]["status"] == "passed"  # --test-command wins over the repository's file
    kinds = {f["kind"] for f in out["flags"]}
    assert {"lint", "no_tests"} <= kinds
    assert all(set(f) == {"kind", "file", "line", "message"} for f in out["flags"])
    assert "PROJ-3" in out["summary_markdown"]
    assert 0 <= out["score"] < 100


def test_bad_revision_is_a_clear_error(repo, capsys) -> None:
    repo.commit(BASE)
    code = main(["gates", "check", "--repo", str(repo.path), "--base", "main", "--head", "nope", "--json"])
    assert code == 2
    assert "'nope' is not a commit" in capsys.readouterr().err


def test_module_entry_point(repo) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"README.md": "# calc\n"})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nightshift",
            "gates",
            "check",
            "--repo",
            str(repo.path),
            "--base",
            base,
            "--head",
            head,
            "--json",
            "--min-score",
            "101",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["checks"][0]["status"] == "not_run"  # no test command configured


def test_the_change_cannot_rewrite_its_own_gates(repo, config, toolchain) -> None:
    local = f"tests:\n  command: {json.dumps(PYTEST)}\n"
    base = repo.commit(BASE | {".nightshift/gates.yaml": local})
    broken = CALC.replace("a + b", "a - b")
    head = repo.commit(
        {
            "calc.py": broken,
            ".nightshift/gates.yaml": "tests:\n  command: 'true'\n",
            "pyproject.toml": PYPROJECT,
            "tests/test_calc.py": CALC_TESTS,
        }
    )
    config = config.model_copy(update={"tests": config.tests.model_copy(update={"command": None})})
    report = gate(repo.path, base, head, config, "tests", toolchain=toolchain)
    assert result(report, "tests").status == "failed"
