"""The one installer of pinned tools (semgrep here, the agent CLIs in tests/agentcli): once, locked,
complete or absent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nightshift.gates.tools import ToolInstallError, install_once


def _step(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_tool_is_installed_once_and_reused(tmp_path: Path) -> None:
    folder = tmp_path / "tools" / "demo-1.0"
    log = tmp_path / "runs.txt"
    make = _step(
        f"import pathlib; p = pathlib.Path({str(folder)!r}); p.mkdir(parents=True); (p / 'demo').write_text('x');"
        f" open({str(log)!r}, 'a').write('run\\n')"
    )
    for _ in range(2):
        install_once(folder, "demo==1.0", [make], ready=folder / "demo")
    assert log.read_text() == "run\n"
    assert (folder / ".nightshift-complete").read_text() == "demo==1.0\n"
    (folder / "demo").unlink()  # incomplete now: installed again from scratch
    install_once(folder, "demo==1.0", [make], ready=folder / "demo")
    assert log.read_text() == "run\nrun\n"


def test_a_failed_step_leaves_nothing_and_carries_its_output(tmp_path: Path) -> None:
    folder = tmp_path / "tools" / "broken-1.0"
    fail = _step(
        f"import pathlib, sys; pathlib.Path({str(folder)!r}).mkdir(parents=True);"
        " print('Could not fetch URL https://pypi.org/simple/broken/'); sys.exit(1)"
    )
    with pytest.raises(
        ToolInstallError, match=r"could not install broken==1\.0: Could not fetch URL"
    ) as raised:
        install_once(folder, "broken==1.0", [fail], ready=folder / "broken")
    assert "Could not fetch URL" in raised.value.output
    assert not folder.exists()


def test_a_best_effort_step_may_fail(tmp_path: Path) -> None:
    folder = tmp_path / "tools" / "demo-2.0"
    make = _step(
        f"import pathlib; p = pathlib.Path({str(folder)!r}); p.mkdir(parents=True); (p / 'demo').write_text('x')"
    )
    install_once(
        folder, "demo==2.0", [make], ready=folder / "demo", best_effort=[_step("raise SystemExit(3)")]
    )
    assert (folder / ".nightshift-complete").is_file()
