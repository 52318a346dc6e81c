"""The tests check: the repository's suite in the sandbox, JUnit results, pre-existing failures."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nightshift.gates.checks.tests import JUnitCase, parse_junit, pytest_node_id
from tests.nightshift.gates.helpers import BASE, CALC, gate, kinds, result

BROKEN_ADD = CALC.replace("return a + b", "return a - b")


def test_passing_suite(repo, config, toolchain) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": CALC + "\n\ndef sub(a: int, b: int) -> int:\n    return a - b\n"})
    report = gate(repo.path, base, head, config, "tests", toolchain=toolchain)
    check = result(report, "tests")
    assert check.status == "passed", check.reason
    assert check.details["tests"] == 2
    assert not kinds(report)


def test_failing_suite_flags_the_test_with_file_and_line(repo, config, toolchain) -> None:
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": BROKEN_ADD})
    report = gate(repo.path, base, head, config, "tests", toolchain=toolchain)
    check = result(report, "tests")
    assert check.status == "failed"
    assert check.details["failed"] == 2 and check.details["pre_existing_failures"] == 0
    flags = [f for f in report.flags if f.kind == "tests_failed"]
    assert {f.where() for f in flags} == {"tests/test_calc.py:4", "tests/test_calc.py:8"}


def test_failure_already_on_the_base_is_reported_not_counted(repo, config, toolchain) -> None:
    broken = BASE | {
        "tests/test_calc.py": BASE["tests/test_calc.py"]
        + "\n\ndef test_known_bug() -> None:\n    assert add(0.1, 0.2) == 0.3\n"
    }
    base = repo.commit(broken)
    head = repo.commit({"calc.py": CALC + "\n\ndef double(a: int) -> int:\n    return 2 * a\n"})
    report = gate(repo.path, base, head, config, "tests", toolchain=toolchain)
    check = result(report, "tests")
    assert check.status == "passed", check.reason
    assert check.details["pre_existing_failures"] == 1
    assert "pre-existing" in check.reason
    assert not kinds(report)


def test_new_failure_counted_beside_a_pre_existing_one(repo, config, toolchain) -> None:
    broken = BASE | {
        "tests/test_calc.py": BASE["tests/test_calc.py"]
        + "\n\ndef test_known_bug() -> None:\n    assert add(0.1, 0.2) == 0.3\n"
    }
    base = repo.commit(broken)
    head = repo.commit({"calc.py": BROKEN_ADD})
    check = result(gate(repo.path, base, head, config, "tests", toolchain=toolchain), "tests")
    assert check.status == "failed"
    assert check.details["failed"] == 2 and check.details["pre_existing_failures"] == 1


def test_whole_suite_rerun_on_base_without_a_rerun_command(repo, config, toolchain) -> None:
    config = config.model_copy(update={"tests": config.tests.model_copy(update={"rerun_command": None})})
    base = repo.commit(BASE | {"tests/test_bug.py": "def test_bug():\n    assert False\n"})
    head = repo.commit({"calc.py": CALC + "\n"})
    check = result(gate(repo.path, base, head, config, "tests", toolchain=toolchain), "tests")
    assert check.status == "passed" and check.details["pre_existing_failures"] == 1


@pytest.mark.reliability
def test_the_suite_has_no_network(repo, config, toolchain, reliability_row) -> None:
    probe = (
        "import socket\n\n"
        "def test_network():\n"
        "    made = 0\n"
        "    for host in ('1.1.1.1', '127.0.0.1', '169.254.169.254'):\n"
        "        s = socket.socket()\n"
        "        s.settimeout(2)\n"
        "        try:\n"
        "            s.connect((host, 53 if host == '1.1.1.1' else 80))\n"
        "            made += 1\n"
        "        except OSError:\n"
        "            pass\n"
        "    assert made == 0, f'{made} connections made'\n"
    )
    base = repo.commit(BASE)
    head = repo.commit({"tests/test_net.py": probe})
    report = gate(repo.path, base, head, config, "tests", toolchain=toolchain)
    check = result(report, "tests")
    reliability_row(
        row="Network from inside the sandbox: the repository's tests at the gates",
        injection="a test connecting to 1.1.1.1:53, 127.0.0.1:80, 169.254.169.254:80",
        figure=f"tests {check.status}: {check.reason}",
        criterion="0 connections (the probe test passes)",
        passed=check.status == "passed",
    )
    assert check.status == "passed", report.flags


@pytest.mark.reliability
def test_hung_suite_with_a_daemon_leaves_no_process(repo, config, toolchain, reliability_row) -> None:
    marker = f"{time.time_ns() % 10**9}.25"
    suite = (
        "import subprocess, time\n\n"
        "def test_daemon_then_hang():\n"
        f"    subprocess.Popen(['setsid', 'sleep', '{marker}'])\n"
        "    time.sleep(120)\n"
    )
    config = config.model_copy(update={"timeouts": config.timeouts.model_copy(update={"tests": 5})})
    base = repo.commit(BASE)
    head = repo.commit({"tests/test_daemon.py": suite})
    report = gate(repo.path, base, head, config, "tests", toolchain=toolchain)
    left = [
        p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p).endswith(f"sleep\0{marker}")
    ]
    reliability_row(
        row="Timeouts: tests that fork a daemon (gates)",
        injection="a test suite starting `setsid sleep` and hanging past the tests timeout",
        figure=f"{len(left)} orphan processes; check {result(report, 'tests').status}",
        criterion="0, check failed (timed out)",
        passed=not left and result(report, "tests").status == "failed",
    )
    assert not left
    assert "timed out" in result(report, "tests").reason


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_text(errors="replace").rstrip("\0")
    except OSError:
        return ""


def test_hung_suite_fails_at_its_timeout(repo, config, toolchain) -> None:
    config = config.model_copy(update={"timeouts": config.timeouts.model_copy(update={"tests": 4})})
    base = repo.commit(BASE)
    head = repo.commit({"tests/test_hang.py": "import time\n\ndef test_hang():\n    time.sleep(60)\n"})
    report = gate(repo.path, base, head, config, "tests", toolchain=toolchain)
    assert result(report, "tests").status == "failed"
    assert "timed out" in result(report, "tests").reason


def test_no_test_command_is_not_run(repo, config) -> None:
    config = config.model_copy(update={"tests": config.tests.model_copy(update={"command": None})})
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": CALC + "\n"})
    report = gate(repo.path, base, head, config, "tests")
    check = result(report, "tests")
    assert check.status == "not_run" and "test command" in check.reason
    assert report.checks_counted == 0


def test_junit_parsing_and_node_ids(tmp_path) -> None:
    xml = b"""<testsuites><testsuite>
      <testcase classname="tests.test_x.TestThing" name="test_a[1]"><failure message="boom">trace</failure></testcase>
      <testcase classname="tests.test_x" name="test_b"><skipped/></testcase>
      <testcase classname="tests.test_x" name="test_c"/>
    </testsuite></testsuites>"""
    cases = parse_junit(xml)
    assert [c.outcome for c in cases] == ["failed", "skipped", "passed"]
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("")
    assert pytest_node_id(cases[0], tmp_path) == ("tests/test_x.py::TestThing::test_a[1]", "tests/test_x.py")
    assert pytest_node_id(JUnitCase("nowhere.mod", "t", "failed"), tmp_path) == ("nowhere.mod::t", None)
