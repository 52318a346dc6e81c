"""The scope and secrets checks, through the pre-push fence's own functions."""

from __future__ import annotations

from nightshift.gates.checks.scope import in_scope
from nightshift.gates.diff import read_diff
from nightshift.models import Ticket
from tests.nightshift.gates.helpers import BASE, CALC, gate, kinds, result

TICKET = Ticket(id="PROJ-1", title="sub", estimated_files=["calc.py", "tests/test_calc.py"])
TOKEN = "glpat-x9Kd2mQ7vLp4Rt8Zw1Yb"


def test_change_within_the_estimate_passes(repo, config) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": CALC + "\n", "tests/test_new.py": "def test_x():\n    assert 1\n"})
    report = gate(repo.path, base, head, config, "scope", ticket=TICKET)
    assert result(report, "scope").status == "passed", report.flags


def test_file_outside_the_estimate_is_out_of_scope(repo, config) -> None:
    base = repo.commit(BASE | {"billing/invoice.py": "RATE = 1\n"})
    head = repo.commit({"calc.py": CALC + "\n", "billing/invoice.py": "RATE = 2\n"})
    report = gate(repo.path, base, head, config, "scope", ticket=TICKET)
    assert [(f.kind, f.file) for f in report.flags] == [("out_of_scope", "billing/invoice.py")]


def test_protected_path_and_size(repo, config) -> None:
    config = config.model_copy(update={"scope": config.scope.model_copy(update={"max_added_lines": 50})})
    base = repo.commit(BASE)
    head = repo.commit({".gitlab-ci.yml": "test:\n  script: [true]\n", "calc.py": CALC + "\n" * 60})
    report = gate(repo.path, base, head, config, "scope", ticket=TICKET)
    assert kinds(report) == {"protected_path", "out_of_scope"}
    assert any(f.kind == "protected_path" and f.file == ".gitlab-ci.yml" for f in report.flags)
    assert report.score == 0  # scope earns nothing with a protected path; the cap is 50 anyway


def test_empty_change_claiming_success(repo, config) -> None:
    base = repo.commit(BASE)
    head = repo.commit({})
    report = gate(repo.path, base, head, config, "scope", ticket=TICKET)
    assert kinds(report) == {"empty_change"}
    quiet = gate(repo.path, base, head, config, "scope", ticket=TICKET, claimed_success=False)
    assert result(quiet, "scope").status == "passed"


def test_in_scope_rules() -> None:
    estimated = ["src/calc/ops.py", "docs/"]
    assert in_scope("src/calc/ops.py", estimated, same_directory=True)
    assert in_scope("src/calc/helpers.py", estimated, same_directory=True)  # beside an estimated file
    assert not in_scope("src/calc/helpers.py", estimated, same_directory=False)
    assert in_scope("docs/guide/x.md", estimated, same_directory=False)  # a folder covers its tree
    assert not in_scope("src/billing/ops.py", estimated, same_directory=True)


def test_secret_on_an_added_line(repo, config) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": CALC + f'\nUPLOAD_TOKEN = "{TOKEN}"\n'})
    report = gate(repo.path, base, head, config, "secrets")
    flag = report.flags[0]
    assert (flag.kind, flag.where(), flag.check) == ("secret", "calc.py:9", "secrets")
    assert TOKEN not in report.model_dump_json()  # the value never enters the report
    assert report.capped_by is None and report.score == 0  # no weighted check ran


def test_no_secret_and_an_old_secret_is_not_new(repo, config) -> None:
    base = repo.commit(BASE | {"legacy.py": f'KEY = "{TOKEN}"\n'})
    head = repo.commit({"calc.py": CALC + "\n", "legacy.py": f'KEY = "{TOKEN}"\n# still here\n'})
    report = gate(repo.path, base, head, config, "secrets")
    assert result(report, "secrets").status == "passed", report.flags


def test_gates_leave_the_repository_untouched_and_repeat_exactly(repo, config, toolchain) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": CALC + "\nimport os\n"})
    before = (
        repo.git("status", "--porcelain", "--ignored"),
        repo.git("worktree", "list"),
        repo.git("rev-parse", "HEAD"),
    )
    first = gate(repo.path, base, head, config, toolchain=toolchain)
    second = gate(repo.path, base, head, config, toolchain=toolchain)
    after = (
        repo.git("status", "--porcelain", "--ignored"),
        repo.git("worktree", "list"),
        repo.git("rev-parse", "HEAD"),
    )
    assert before == after
    strip = {"created_at": True, "checks": {"__all__": {"duration_s"}}}
    assert first.model_dump(exclude=strip) == second.model_dump(exclude=strip)
    assert read_diff(repo.path, base, head).paths == ["calc.py"] == first.files_changed
