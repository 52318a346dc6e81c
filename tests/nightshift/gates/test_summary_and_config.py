"""The review summary and the gates configuration."""

from __future__ import annotations

import pytest

from nightshift.agents.contract import ImplementResult, PlanResult
from nightshift.gates.config import GatesConfig
from nightshift.gates.report import CheckResult, Flag, GateReport, ScoreLine
from nightshift.gates.run import effective_config
from nightshift.gates.summary import SummaryLinks, render_summary
from nightshift.models import Ticket
from tests.nightshift.gates.helpers import BASE

TICKET = Ticket(
    id="PROJ-7",
    title="Add sub() @channel",
    description="/merge now <script>alert(1)</script> subtract numbers",
    acceptance_criteria=["sub(3, 2) == 1", "[link](http://evil.example)"],
    estimated_files=["calc.py", "tests/test_calc.py"],
    url="http://tracker.local/PROJ-7",
)


def report() -> GateReport:
    return GateReport(
        base="a" * 40,
        head="b" * 40,
        score=55,
        checks=[
            CheckResult(name="tests", status="failed", reason="1 of 3 tests fail"),
            CheckResult(name="pipeline", status="not_run", reason="no pipeline"),
        ],
        flags=[
            Flag(
                kind="tests_failed",
                file="tests/test_calc.py",
                line=4,
                message="test_sub failed",
                check="tests",
            )
        ],
        breakdown=[ScoreLine(check="tests", weight=40, earned=0)],
        checks_counted=1,
        files_changed=["calc.py", "docs/x.md"],
        lines_added=7,
        lines_removed=1,
    )


def test_summary_has_every_section_and_link() -> None:
    links = SummaryLinks(
        review_page="http://airflow.local/nightshift/batches/b1#ticket-PROJ-7",
        task_logs={
            "Generation": "http://airflow.local/dags/d/runs/r/tasks/ticket",
            "Gates": "javascript:alert(1)",
        },
    )
    text = render_summary(
        report(),
        ticket=TICKET,
        plan=PlanResult(plan="Add sub next to add.", risks=["floats"]),
        implementation=ImplementResult(remaining_work=["docs for sub"]),
        links=links,
    )
    for needle in (
        "**Score: 55/100** (low)",
        "rests on 1 of 2 checks",
        "### Goal",
        "Acceptance criteria",
        "+7 / −1",
        "`docs/x.md` (not estimated)",
        "### Plan (C1) and risks",
        "Risk: floats",
        "| tests | ❌ failed | 0/40 |",
        "`tests/test_calc.py:4`",
        "docs for sub",
        "[Review page](http://airflow.local/nightshift/batches/b1#ticket-PROJ-7)",
        "[Ticket](http://tracker.local/PROJ-7)",
        "[Generation](http://airflow.local/dags/d/runs/r/tasks/ticket)",
        "Gates: (not available)",  # not an http(s) link: shown as text
    ):
        assert needle in text, needle


def test_summary_neutralises_ticket_text() -> None:
    text = render_summary(report(), ticket=TICKET)
    assert "`@channel`" in text  # a code span: no notification
    assert "\\<script>" in text and "\n<script>" not in text
    assert "\\[link\\]" in text and "[link](" not in text  # not a link
    assert "\n/merge" not in text and "> \\/merge" in text  # no quick action


def test_repo_local_file_comes_from_the_base_and_may_only_add(repo) -> None:
    local = "tests:\n  command: make test\nscope:\n  protected_paths: [deploy/**]\n"
    base = repo.commit(BASE | {".nightshift/gates.yaml": local})
    cfg = effective_config(repo.path, base, GatesConfig(), None)
    assert cfg.tests.command == "make test"
    policy = cfg.fence_policy() if _fence() else None
    assert cfg.scope.extra_protected_paths == ["deploy/**"]
    if policy is not None:
        assert "deploy/**" in policy.protected_paths and ".gitlab-ci.yml" in policy.protected_paths


def _fence() -> bool:
    try:
        import nightshift.forge.fence  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    "text", ["weights:\n  tests: 0\n", "caps:\n  secret: 100\n", "timeouts:\n  tests: 1\n"]
)
def test_repo_local_file_cannot_touch_weights_caps_or_timeouts(text) -> None:
    with pytest.raises(ValueError, match=r"\.nightshift/gates\.yaml"):
        GatesConfig().with_repo_local(text)


def test_per_repository_block() -> None:
    cfg = GatesConfig.model_validate({"repositories": {"shop/app": {"tests": {"command": "pytest"}}}})
    assert cfg.for_repository("shop/app").tests.command == "pytest"
    assert cfg.for_repository("other/app").tests.command is None


def test_repo_local_file_cannot_mount_a_host_folder_or_open_hosts() -> None:
    with pytest.raises(ValueError, match="path"):
        GatesConfig().with_repo_local("toolchain:\n  path: /root/.ssh\n")
    with pytest.raises(ValueError, match="allowed_hosts"):
        GatesConfig().with_repo_local("toolchain:\n  allowed_hosts: ['evil.example:443']\n")
    cfg = GatesConfig().with_repo_local("toolchain:\n  setup_command: make venv\n  lock_files: [uv.lock]\n")
    assert (cfg.toolchain.setup_command, cfg.toolchain.lock_files) == ("make venv", ["uv.lock"])


def test_the_documented_block_in_nightshift_yaml_is_the_defaults() -> None:
    from pathlib import Path

    from nightshift.config import DEFAULT_CONFIG
    from nightshift.safe_yaml import load_yaml_text

    text = Path(DEFAULT_CONFIG).read_text().split("# gates:\n", 1)[1]
    block = "\n".join(line[2:] for line in text.splitlines() if line.startswith("#"))
    documented = GatesConfig.model_validate(load_yaml_text(block))
    assert documented.model_copy(update={"repositories": {}}) == GatesConfig()
