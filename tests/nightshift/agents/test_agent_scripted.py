"""Every scripted behaviour, run for real through the sandboxed runner."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from nightshift.agents.config import DEFAULT_BEHAVIOURS_DIR
from nightshift.agents.scripted import fake_token, load_behaviour
from tests.nightshift.agents.agent_helpers import git

EVIDENCE = ("request.json", "stdout.txt", "stderr.txt", "result.json", "usage.json", "run.json")


def behave(behaviours: Path, text: str, ticket: str = "PROJ-1") -> None:
    (behaviours / f"{ticket}.yaml").write_text(text)


def test_default_behaviour_runs_all_checkpoints(scripted, make_request, worktree, tmp_path):
    runner = scripted()
    c0 = runner.run(make_request(worktree, "C0"), tmp_path / "run" / "C0")
    c1 = runner.run(make_request(worktree, "C1"), tmp_path / "run" / "C1")
    c2 = runner.run(make_request(worktree, "C2"), tmp_path / "run" / "C2")
    assert (c0.status, c1.status, c2.status) == ("ok", "ok", "ok")
    assert c0.scope is not None and c0.scope.files == ["src/utils.py"]
    assert c1.plan is not None and "src/utils.py" in c1.plan.plan
    assert c2.implementation is not None and c2.implementation.files_changed == ["src/utils.py"]
    assert "# PROJ-1: Add a helper (scripted agent)" in (worktree / "src/utils.py").read_text()
    assert git(worktree, "status", "--porcelain").strip() == "M src/utils.py"
    for name in EVIDENCE:
        assert (tmp_path / "run" / "C2" / name).is_file(), name
    run = json.loads((tmp_path / "run" / "C2" / "run.json").read_text())
    assert run["sandboxed"] is True and run["exit_code"] == 0 and run["processes_left"] == 0
    assert c2.duration_seconds > 0


def test_default_behaviour_without_concrete_files_writes_a_notes_file(scripted, make_request, worktree, tmp_path):
    result = scripted().run(make_request(worktree, estimated_files=["src/api/*"]), tmp_path / "run")
    assert result.status == "ok"
    assert result.implementation.files_changed == ["docs/agent-notes/PROJ-1.md"]
    assert (worktree / "docs/agent-notes/PROJ-1.md").read_text().startswith("PROJ-1: Add a helper")


def test_write_append_delete_and_patch(scripted, make_request, worktree, behaviours, tmp_path):
    behave(behaviours, """
checkpoints:
  C2:
    steps:
      - write: {path: src/new.py, content: "X = 1\\n"}
      - append: {path: README.md, content: "more\\n"}
      - delete: src/gone.py
      - patch: |
          --- a/src/utils.py
          +++ b/src/utils.py
          @@ -1,2 +1,2 @@
           def double(x):
          -    return 2 * x
          +    return x + x
""")
    (worktree / "src/gone.py").write_text("bye\n")
    result = scripted().run(make_request(worktree), tmp_path / "run")
    assert result.status == "ok", result.reason
    assert result.implementation.files_changed == ["src/new.py", "README.md", "src/gone.py", "src/utils.py"]
    assert (worktree / "src/new.py").read_text() == "X = 1\n"
    assert (worktree / "README.md").read_text() == "# app\nmore\n"
    assert not (worktree / "src/gone.py").exists()
    assert "return x + x" in (worktree / "src/utils.py").read_text()


def test_escalate_at_c1(scripted, make_request, worktree, tmp_path):
    runner = scripted(scripted={"behaviours_dir": str(DEFAULT_BEHAVIOURS_DIR), "assignments": {"PROJ-1": "escalate"}})
    result = runner.run(make_request(worktree, "C1"), tmp_path / "run")
    assert result.status == "escalate"
    assert result.plan.escalation_reason.startswith("Architecture decision needed")
    assert result.plan.open_questions == ["Which session store should be used?"]


def test_partial_at_c2(scripted, make_request, worktree, tmp_path):
    runner = scripted(scripted={"behaviours_dir": str(DEFAULT_BEHAVIOURS_DIR), "assignments": {"PROJ-1": "partial"}})
    result = runner.run(make_request(worktree, "C2"), tmp_path / "run")
    assert result.status == "partial"
    assert result.implementation.remaining_work == ["Move the models to the new service object",
                                                    "Remove the deprecated helpers once callers are gone"]
    assert result.implementation.files_changed == ["docs/partial-refactor.md"]


def test_rate_limit_counter_survives_separate_runs(scripted, make_request, worktree, behaviours, tmp_path):
    behave(behaviours, """
checkpoints:
  C2:
    steps:
      - rate_limit: {times: 2, reset_seconds: 30}
      - write: {path: done.txt, content: "done\\n"}
""")
    statuses, resets = [], []
    for attempt in range(3):
        runner = scripted()  # a fresh runner each time: nothing is kept in memory
        before = dt.datetime.now(dt.UTC)
        result = runner.run(make_request(worktree), tmp_path / f"run{attempt}")
        statuses.append(result.status)
        if result.rate_limit_reset_at:
            resets.append((result.rate_limit_reset_at - before).total_seconds())
    assert statuses == ["rate_limited", "rate_limited", "ok"]
    assert all(25 <= s <= 35 for s in resets), resets
    counter = tmp_path / "state" / "b1" / "PROJ-1" / "rate_limit.C2.count"
    assert counter.read_text() == "2"
    assert not any(p.name.startswith("rate_limit") for p in worktree.rglob("*"))  # kept outside the worktree
    assert (worktree / "done.txt").is_file()


def test_fail_shortcut(scripted, make_request, worktree, behaviours, tmp_path):
    behave(behaviours, "checkpoints:\n  C0:\n    fail: cannot read the ticket\n")
    result = scripted().run(make_request(worktree, "C0"), tmp_path / "run")
    assert (result.status, result.reason) == ("failed", "cannot read the ticket")


def test_crash_fails_with_exit_code_and_redacted_token(scripted, make_request, worktree, tmp_path):
    runner = scripted(scripted={"behaviours_dir": str(DEFAULT_BEHAVIOURS_DIR), "assignments": {"PROJ-1": "fail"}})
    result = runner.run(make_request(worktree), tmp_path / "run")
    assert result.status == "failed"
    assert result.reason == "the agent exited with code 3 and wrote no result"
    assert "test database not reachable" in (tmp_path / "run" / "stderr.txt").read_text()
    stdout = (tmp_path / "run" / "stdout.txt").read_text()
    assert "glpat-" not in stdout and "[REDACTED]" in stdout


def test_fake_token_is_redacted_everywhere(scripted, make_request, worktree, behaviours, tmp_path):
    behave(behaviours, """
checkpoints:
  C2:
    steps:
      - print_fake_token: {kind: gitlab, in_result: true}
      - print_fake_token: github
      - print_fake_token: openai
""")
    result = scripted().run(make_request(worktree), tmp_path / "run")
    tokens = [fake_token(kind, "PROJ-1") for kind in ("gitlab", "github", "openai")]
    assert tokens[0].startswith("glpat-") and len(tokens[0]) == 26
    assert result.status == "ok"
    assert "[REDACTED]" in result.reason and tokens[0] not in result.reason
    leaks = {f.name: sum(f.read_text().count(t) for t in tokens) for f in (tmp_path / "run").rglob("*") if f.is_file()}
    assert sum(leaks.values()) == 0, leaks
    assert (tmp_path / "run" / "stdout.txt").read_text().count("[REDACTED]") == 3


def test_malformed_result_is_a_failed_checkpoint(scripted, make_request, worktree, behaviours, tmp_path):
    behave(behaviours, "checkpoints:\n  C1:\n    steps:\n      - write_result: '{not json'\n")
    result = scripted().run(make_request(worktree, "C1"), tmp_path / "run")
    assert result.status == "failed" and "not JSON" in result.reason
    assert (tmp_path / "run" / "result.raw.txt").read_text() == "{not json"


def test_wrong_checkpoint_and_invalid_fields_are_rejected(scripted, make_request, worktree, behaviours, tmp_path):
    behave(behaviours, """checkpoints:\n  C1:\n    steps:\n      - write_result: '{"checkpoint": "C2", "status": "ok"}'\n""")
    result = scripted().run(make_request(worktree, "C1"), tmp_path / "a")
    assert result.status == "failed" and "answered checkpoint C2 when asked for C1" in result.reason
    behave(behaviours, """checkpoints:\n  C1:\n    steps:\n      - write_result: '{"checkpoint": "C1", "status": "great"}'\n""")
    result = scripted().run(make_request(worktree, "C1"), tmp_path / "b")
    assert result.status == "failed" and "invalid at status" in result.reason


def test_no_result(scripted, make_request, worktree, behaviours, tmp_path):
    behave(behaviours, "checkpoints:\n  C0:\n    steps:\n      - no_result: true\n")
    result = scripted().run(make_request(worktree, "C0"), tmp_path / "run")
    assert (result.status, result.reason) == ("failed", "the agent wrote no result")


def test_sleep_within_the_timeout_and_usage(scripted, make_request, worktree, behaviours, tmp_path):
    behave(behaviours, """
checkpoints:
  C0:
    steps:
      - sleep: 1.2
      - usage: {input_tokens: 100, output_tokens: 20, cost_usd: 0.5}
""")
    result = scripted(timeout_seconds=10).run(make_request(worktree, "C0"), tmp_path / "run")
    assert result.status == "ok" and result.duration_seconds >= 1.2
    usage = json.loads((tmp_path / "run" / "usage.json").read_text())
    assert usage == {"input_tokens": 100, "output_tokens": 20, "cost_usd": 0.5, "cached_input_tokens": 0,
                     "model": "", "cost_source": "agent"}


def test_out_of_scope_edit_is_reported(scripted, make_request, worktree, behaviours, tmp_path):
    behave(behaviours, """
checkpoints:
  C2:
    steps:
      - write: {path: .gitlab-ci.yml, content: "stages: [pwn]\\n"}
      - write: {path: CODEOWNERS, content: "* @agent\\n"}
""")
    result = scripted().run(make_request(worktree), tmp_path / "run")
    assert result.status == "ok"
    assert result.implementation.files_changed == [".gitlab-ci.yml", "CODEOWNERS"]
    assert (worktree / ".gitlab-ci.yml").is_file()


def test_writes_outside_the_worktree_are_refused_by_the_agent_format(scripted, make_request, worktree, behaviours,
                                                                      tmp_path):
    behave(behaviours, "checkpoints:\n  C2:\n    steps:\n      - write: {path: ../escape.txt, content: x}\n")
    result = scripted().run(make_request(worktree), tmp_path / "run")
    assert result.status == "failed"
    assert not (worktree.parent / "escape.txt").exists()


def test_behaviour_resolution_order(scripted, make_request, worktree, behaviours, tmp_path):
    (behaviours / "lab.yaml").write_text("checkpoints:\n  C0:\n    fail: from label\n")
    (behaviours / "assigned.yaml").write_text("checkpoints:\n  C0:\n    fail: from assignment\n")
    req = make_request(worktree, "C0", labels=["behaviour:lab"])
    assert scripted().run(req, tmp_path / "1").reason == "from label"
    behave(behaviours, "checkpoints:\n  C0:\n    fail: from ticket file\n")
    assert scripted().run(req, tmp_path / "2").reason == "from ticket file"
    runner = scripted(scripted={"assignments": {"PROJ-1": "assigned"}})
    assert runner.run(req, tmp_path / "3").reason == "from assignment"
    missing = scripted(scripted={"assignments": {"PROJ-1": "nope"}}).run(req, tmp_path / "4")
    assert missing.status == "failed" and "'nope' for PROJ-1 not found" in missing.reason


@pytest.mark.parametrize("text, expected", [
    ("a: &x 1\nb: *x\n", "anchors"),
    ("checkpoints:\n  C2:\n    steps:\n      - explode: true\n", "explode"),
    ("checkpoints:\n  C2:\n    steps:\n      - {sleep: 1, hang: true}\n", "exactly one action"),
    ("checkpoints:\n  C9: {}\n", "C9"),
])
def test_invalid_behaviour_file_fails_before_running(scripted, make_request, worktree, behaviours, tmp_path, text,
                                                     expected):
    behave(behaviours, text)
    result = scripted().run(make_request(worktree), tmp_path / "run")
    assert result.status == "failed" and expected in result.reason
    assert not (tmp_path / "run" / "stdout.txt").exists()  # nothing was started


def test_demo_examples_are_valid_and_do_what_the_readme_says(scripted, make_request, worktree, tmp_path):
    files = sorted(p.stem for p in DEFAULT_BEHAVIOURS_DIR.glob("*.yaml"))
    assert files == ["CALC-2", "DEMO-1", "escalate", "fail", "normal", "partial", "rate_limit"]
    for name in files:
        load_behaviour(DEFAULT_BEHAVIOURS_DIR / f"{name}.yaml")
    runner = scripted(scripted={"behaviours_dir": str(DEFAULT_BEHAVIOURS_DIR), "assignments": {"PROJ-1": "normal"}})
    result = runner.run(make_request(worktree), tmp_path / "normal")
    assert result.status == "ok" and result.implementation.tests_passed is True
    assert result.usage.input_tokens == 1800
    runner = scripted(scripted={"behaviours_dir": str(DEFAULT_BEHAVIOURS_DIR),
                                "assignments": {"PROJ-1": "rate_limit"}})
    first = runner.run(make_request(worktree), tmp_path / "rl")
    assert first.status == "rate_limited" and first.rate_limit_reset_at is not None


def test_deadline_already_passed_runs_nothing(scripted, make_request, worktree, tmp_path):
    result = scripted().run(make_request(worktree), tmp_path / "run", deadline_monotonic=time.monotonic() - 1)
    assert result.status == "failed" and "deadline passed before C2 started" in result.reason
    assert git(worktree, "status", "--porcelain") == ""


def test_ticket_deadline_shortens_the_checkpoint_timeout(scripted, make_request, worktree, behaviours, tmp_path):
    behave(behaviours, "checkpoints:\n  C2:\n    steps:\n      - hang: true\n")
    started = time.monotonic()
    result = scripted(timeout_seconds=60).run(make_request(worktree), tmp_path / "run",
                                              deadline_monotonic=started + 2)
    assert (result.status, result.reason) == ("failed", "timed out after 2s")
    assert time.monotonic() - started < 45  # far above the 2 s deadline, far below the 60 s timeout


def test_invalid_batch_id_and_missing_workspace(scripted, make_request, worktree, tmp_path):
    result = scripted().run(make_request(worktree, batch_id="../etc"), tmp_path / "a")
    assert result.status == "failed" and "not a valid batch id" in result.reason
    result = scripted().run(make_request(tmp_path / "missing"), tmp_path / "b")
    assert result.status == "failed" and "does not exist" in result.reason


def test_run_dir_inside_the_workspace_is_refused(scripted, make_request, worktree):
    with pytest.raises(ValueError, match="inside the workspace"):
        scripted().run(make_request(worktree), worktree / "evidence")
    assert not (worktree / "evidence").exists()


def test_an_answered_escalation_proceeds(scripted, make_request, worktree, tmp_path):
    runner = scripted(scripted={"behaviours_dir": str(DEFAULT_BEHAVIOURS_DIR), "assignments": {"PROJ-1": "escalate"}})
    request = make_request(worktree, "C1").model_copy(update={"escalation_answer": "Use Redis."})
    result = runner.run(request, tmp_path / "run")
    assert result.status == "ok" and result.plan.plan == "Proceed as answered by a human: Use Redis."
