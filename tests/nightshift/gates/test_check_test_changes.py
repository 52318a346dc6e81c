"""The test-changes check: no_tests and tests_removed."""

from __future__ import annotations

import pytest

from tests.nightshift.gates.helpers import BASE, CALC, CALC_TESTS, gate, kinds, result

SUB = CALC + "\n\ndef sub(a: int, b: int) -> int:\n    return a - b\n"
SUB_TEST = CALC_TESTS.replace("from calc import add", "from calc import add, sub") + (
    "\n\ndef test_sub() -> None:\n    assert sub(3, 2) == 1\n"
)


def test_code_with_tests_passes(repo, config) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": SUB, "tests/test_calc.py": SUB_TEST})
    report = gate(repo.path, base, head, config, "test_changes")
    assert result(report, "test_changes").status == "passed"
    assert not kinds(report)


def test_docs_only_needs_no_tests(repo, config) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"README.md": "# calc\n"})
    report = gate(repo.path, base, head, config, "test_changes")
    assert result(report, "test_changes").status == "passed"


def test_code_without_tests_is_no_tests(repo, config) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": SUB})
    report = gate(repo.path, base, head, config, "test_changes")
    assert result(report, "test_changes").status == "failed"
    assert kinds(report) == {"no_tests"}


@pytest.mark.parametrize(
    ("name", "tests_text"),
    [
        ("deleted function", CALC_TESTS.split("\n\n\ndef test_add_negative")[0] + "\n"),
        ("removed assertion", CALC_TESTS.replace("    assert add(-2, 1) == -1\n", "    add(-2, 1)\n")),
        (
            "skip marker",
            "import pytest\n"
            + CALC_TESTS.replace(
                "def test_add_negative", '@pytest.mark.skip(reason="later")\ndef test_add_negative'
            ),
        ),
        (
            "xfail marker",
            "import pytest\n"
            + CALC_TESTS.replace("def test_add_negative", "@pytest.mark.xfail\ndef test_add_negative"),
        ),
        (
            "skip call",
            CALC_TESTS.replace(
                "    assert add(2, 3) == 5\n",
                "    import pytest\n    pytest.skip('flaky')\n    assert add(2, 3) == 5\n",
            ),
        ),
    ],
)
def test_weakened_tests_are_tests_removed(repo, config, name, tests_text) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": SUB, "tests/test_calc.py": tests_text})
    report = gate(repo.path, base, head, config, "test_changes")
    assert result(report, "test_changes").status == "failed", name
    assert "tests_removed" in kinds(report), name


def test_deleted_test_file_is_tests_removed(repo, config) -> None:
    base = repo.commit(BASE | {"tests/test_more.py": "def test_more():\n    assert True\n"})
    head = repo.commit({"tests/test_more.py": None})
    report = gate(repo.path, base, head, config, "test_changes")
    flags = [f for f in report.flags if f.kind == "tests_removed"]
    assert [f.file for f in flags] == ["tests/test_more.py"]


def test_test_moved_between_files_is_not_a_removal(repo, config) -> None:
    base = repo.commit(BASE)
    first, second = CALC_TESTS.split("\n\n\ndef test_add_negative")
    head = repo.commit(
        {
            "tests/test_calc.py": first + "\n",
            "tests/test_negative.py": "from calc import add\n\n\ndef test_add_negative" + second,
        }
    )
    report = gate(repo.path, base, head, config, "test_changes")
    assert result(report, "test_changes").status == "passed", report.flags


def test_new_test_does_not_hide_a_deleted_one(repo, config) -> None:
    base = repo.commit(BASE)
    first = CALC_TESTS.split("\n\n\ndef test_add_negative")[0] + "\n"
    replaced = (
        first.replace("from calc import add", "from calc import add, sub")
        + "\n\ndef test_sub() -> None:\n    assert sub(3, 2) == 1\n"
    )
    head = repo.commit({"calc.py": SUB, "tests/test_calc.py": replaced})
    report = gate(repo.path, base, head, config, "test_changes")
    flags = [f for f in report.flags if f.kind == "tests_removed"]
    assert [(f.where(), f.message) for f in flags] == [
        ("tests/test_calc.py:8", "test test_add_negative removed")
    ]


def test_same_test_name_in_two_files_is_tracked_per_copy(repo, config) -> None:
    other = CALC_TESTS.replace("test_calc", "test_other")
    base = repo.commit(BASE | {"tests/test_other.py": other})
    head = repo.commit(
        {
            "tests/test_other.py": other.split("\n\n\ndef test_add_negative")[0] + "\n",
            "calc.py": SUB,
            "tests/test_calc.py": SUB_TEST,
        }
    )
    report = gate(repo.path, base, head, config, "test_changes")
    assert [(f.kind, f.message) for f in report.flags] == [
        ("tests_removed", "test test_add_negative removed")
    ]


def test_other_languages_by_counts(repo, config) -> None:
    go_test = 'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("add")\n\t}\n}\n\nfunc TestSub(t *testing.T) {\n\tif Sub(3, 2) != 1 {\n\t\tt.Fatal("sub")\n\t}\n}\n'
    base = repo.commit({"calc.go": "package calc\n", "calc_test.go": go_test})
    head = repo.commit(
        {"calc.go": "package calc\n\n// x\n", "calc_test.go": go_test.split("\n\nfunc TestSub")[0] + "\n"}
    )
    report = gate(repo.path, base, head, config, "test_changes")
    assert [(f.kind, f.message) for f in report.flags] == [("tests_removed", "1 test function(s) removed")]
