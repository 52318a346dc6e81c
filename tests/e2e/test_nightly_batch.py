"""End-to-end: the nightly batch DAG under the real scheduler, triggerer, pool and LocalExecutor (SQLite),
with the stand-in GitLab (git over HTTP), the demo tickets and the scripted agent in the sandbox.

Figures come from what actually happened: task-instance start/end times from the Airflow REST API and
the agent runs' own evidence (run.json, written by the runner around each sandboxed agent process).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from nightshift.agents.evidence import agent_runs
from nightshift.agents.evidence import peak_concurrency as max_overlap
from nightshift_local.demo import DemoEnvironment
from tests.e2e.conftest import PARALLEL_AGENTS, TIMEOUT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]  # the first test also starts the stack and runs the night



def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def outcomes(batch: Path) -> dict[str, str]:
    return {p.parent.name: json.loads(p.read_text())["state"] for p in batch.glob("tickets/*/outcome.json")}


@pytest.fixture(scope="module")
def env(demo_env: DemoEnvironment) -> DemoEnvironment:
    return demo_env


@pytest.fixture(scope="module")
def demo_batch(shared_demo_batch: dict[str, Any]) -> dict[str, Any]:
    return shared_demo_batch


def ti(tis: list[dict[str, Any]], task_id: str, ticket: str) -> dict[str, Any]:
    for item in tis:
        if item["task_id"] == task_id and item.get("ticket") == ticket:
            return item
    raise AssertionError(f"no task instance {task_id} for {ticket}")


def test_the_batch_completes_with_every_edge_case(demo_batch):
    assert demo_batch["state"] == "success"
    manifest = yaml.safe_load((demo_batch["batch"] / "manifest.yaml").read_text())
    assert manifest["status"] == "completed"
    assert [t["id"] for t in manifest["tickets"]][:1] == ["DEMO-1"]
    assert "CALC-3" not in [t["id"] for t in manifest["tickets"]]  # not ready: open question
    assert outcomes(demo_batch["batch"]) == {
        "DEMO-1": "completed", "DEMO-2": "completed", "CALC-1": "escalated", "CALC-2": "partial",
        "DEMO-5": "completed", "DEMO-6": "failed", "DEMO-7": "skipped", "OPS-1": "completed",
    }
    dashboard = (demo_batch["batch"] / "review" / "dashboard.txt").read_text()
    assert "BATCH REVIEW: 2026-01-05-e2e" in dashboard and "CALC-1" in dashboard


def test_tracker_writes_happen_once(demo_batch, env):
    """Escalation comment + label, the partial's follow-up issue, the not-ready comment: one each."""
    from nightshift_local.demo import PROJECT

    gitlab = env.gitlab
    escalation = [n for n in gitlab.notes(PROJECT, issue_iid=1) if "human decision" in n]
    assert len(escalation) == 1
    issues = {i["iid"]: i for i in gitlab.issues(PROJECT)}
    assert "agent-escalated" in issues[1]["labels"] and "ready-for-agent" not in issues[1]["labels"]
    followups = [i for i in issues.values() if i["title"].startswith("Follow-up:")]
    assert len(followups) == 1 and "Remaining work" in followups[0]["description"]
    not_ready = gitlab.notes(PROJECT, issue_iid=3)
    assert len(not_ready) == 1 and "agent-not-ready" in issues[3]["labels"]
    partial = json.loads((demo_batch["batch"] / "tickets" / "CALC-2" / "outcome.json").read_text())
    assert partial["followup_key"] and partial["remaining_work"]
    mr = next(m for m in env.merge_requests() if m["source_branch"] == "agent/CALC-2")
    assert "Remaining work (partial)" in mr["description"]
    # The Jira ticket (collected through the Jira hook in the intake task) links back to Jira.
    jira_mr = next(m for m in env.merge_requests() if m["source_branch"] == "agent/OPS-1")
    assert f"{env.jira.base_url}/browse/OPS-1" in jira_mr["description"]


def test_agent_checkpoints_never_exceed_parallel_agents(demo_batch):
    runs = agent_runs(demo_batch["batch"])
    assert len(runs) >= 15
    peak = max_overlap([(r.start, r.end) for r in runs])
    print(f"\nagent runs: {len(runs)}, peak concurrent agent checkpoints: {peak} (parallel_agents={PARALLEL_AGENTS})")
    assert 1 <= peak <= PARALLEL_AGENTS
    # Pool task instances measured from their start/end times. A ticket instance that defers (for its
    # dependencies, or a rate-limit pause over WAIT_IN_TASK_MAX_S; the demo's pauses are shorter and
    # waited out holding the slot) keeps its first start_date but holds a slot only from its last
    # queueing after the trigger fired (`queued_when`), so it counts from the later of the two; every
    # other one held its slot from start to end.
    pool_tis = [t for t in demo_batch["tis"] if t["task_id"] == "ticket"
                and t.get("start_date") and t.get("end_date")
                and t["state"] in ("success", "failed", "skipped")]  # an escalated ticket ran C0 and C1
    assert len(pool_tis) >= 8
    ti_peak = max_overlap([(_held_from(t), _ts(t["end_date"])) for t in pool_tis])
    print(f"peak concurrent pool task instances: {ti_peak}")
    assert ti_peak <= PARALLEL_AGENTS


def _held_from(item: dict[str, Any]) -> dt.datetime:
    """When a pool task instance last took its slot: its start, or its queueing after a deferral."""
    start = _ts(item["start_date"])
    return max(start, _ts(item["queued_when"])) if item.get("queued_when") else start


def test_dependencies_hold_and_stack(demo_batch, env):
    tis = demo_batch["tis"]
    outcome = json.loads((demo_batch["batch"] / "tickets" / "DEMO-1" / "outcome.json").read_text())
    parent_done = _ts(outcome["finished_at"])
    # DEMO-2's ticket task starts early and waits, deferred, for DEMO-1 (its start_date is that first
    # start): its C0 agent starts only after DEMO-1's merge request and outcome.
    child_c0 = [r for r in agent_runs(demo_batch["batch"]) if r.ticket == "DEMO-2" and r.checkpoint == "C0"]
    assert child_c0 and min(r.start for r in child_c0) >= parent_done
    mrs = {mr["source_branch"]: mr for mr in env.merge_requests()}
    assert mrs["agent/DEMO-2"]["target_branch"] == "agent/DEMO-1"
    assert mrs["agent/DEMO-1"]["target_branch"] == "main"
    assert all(mr["draft"] for mr in mrs.values())
    # The reviewer's button on the task instance leads to the merge request.
    publish = ti(tis, "ticket", "DEMO-1")
    links = env.stack.api("GET", f"/dags/nightshift_nightly_batch/dagRuns/{demo_batch['run_id']}/taskInstances/"
                          "ticket/links", params={"map_index": publish["map_index"]})
    assert links["extra_links"]["Merge request"] == mrs["agent/DEMO-1"]["web_url"]
    # The dependent of the failure never ran an agent: skipped and carried over.
    assert not list((demo_batch["batch"] / "tickets" / "DEMO-7").glob("runs/*"))
    outcome = json.loads((demo_batch["batch"] / "tickets" / "DEMO-7" / "outcome.json").read_text())
    assert "DEMO-6 failed" in outcome["reason"]
    assert ti(tis, "ticket", "DEMO-7")["state"] == "skipped"


def test_rate_limit_pauses_the_batch_and_resumes_from_the_last_checkpoint(demo_batch):
    batch = demo_batch["batch"]
    events = [json.loads(p.read_text()) for p in sorted(batch.glob("ratelimits/*.json"))]
    assert [(e["ticket_id"], e["checkpoint"]) for e in events] == [("DEMO-5", "C2"), ("DEMO-5", "C2")]
    runs = agent_runs(batch)
    demo5 = [r.checkpoint for r in runs if r.ticket == "DEMO-5"]
    assert demo5.count("C0") == 1 and demo5.count("C1") == 1 and demo5.count("C2") == 3
    for event in events:
        # `launched` is when the flow last checked the batch and let the agent go: never inside a pause.
        hit, reset = _ts(event["hit_at"]), _ts(event["reset_at"])
        started_in_pause = [r for r in runs if hit < r.launched < reset]
        assert started_in_pause == [], f"agent runs launched during the pause: {started_in_pause}"
        assert all(r.start - r.launched < dt.timedelta(seconds=5) for r in runs)
    ticket = ti(demo_batch["tis"], "ticket", "DEMO-5")
    assert ticket["state"] == "success" and ticket["try_number"] == 1  # the pauses cost no try


def test_clearing_finished_tasks_repeats_no_side_effect(demo_batch, env):
    stack = env.stack
    before = {mr["source_branch"]: (mr["iid"], mr["sha"]) for mr in env.merge_requests()}
    runs_before = len(agent_runs(demo_batch["batch"]))
    stack.api("POST", "/dags/nightshift_nightly_batch/clearTaskInstances", json={
        "dry_run": False, "dag_run_id": demo_batch["run_id"], "only_failed": False, "reset_dag_runs": True,
        "task_ids": ["ticket", "intake_write_manifest"],
    })
    time.sleep(3)
    assert stack.wait_for_run(demo_batch["run_id"], timeout=TIMEOUT) == "success"
    after = {mr["source_branch"]: (mr["iid"], mr["sha"]) for mr in env.merge_requests()}
    assert after == before  # no duplicate MR, no new commit
    assert len(agent_runs(demo_batch["batch"])) == runs_before  # no checkpoint re-ran an agent


def test_fourth_rate_limit_aborts_and_carries_everything_over(demo_batch, env):
    env.write_config(env.config, {"agent": {"scripted": {"assignments": {"DEMO-6": "rate_limit_forever"}}}})
    try:
        run_id = env.stack.trigger({"wait_for_windows": False, "batch_id": "2026-01-06-e2e-abort"})
        assert env.stack.wait_for_run(run_id, timeout=TIMEOUT) == "success"
    finally:
        env.write_config(env.config)
    batch = env.batch_dir("2026-01-06-e2e-abort")
    manifest = yaml.safe_load((batch / "manifest.yaml").read_text())
    assert manifest["status"] == "aborted"
    events = sorted((json.loads(p.read_text()) for p in batch.glob("ratelimits/*.json")), key=lambda e: e["hit_at"])
    assert len(events) == 4
    final = outcomes(batch)
    assert set(final) == {t["id"] for t in manifest["tickets"]}  # 0 lost
    assert final["DEMO-6"] == "carried_over" and final["DEMO-7"] == "carried_over"
    unfinished = {k: v for k, v in final.items() if v not in ("completed", "partial", "escalated", "failed", "skipped")}
    assert unfinished and set(unfinished.values()) == {"carried_over"}
    fourth = _ts(events[-1]["hit_at"])
    late = [r for r in agent_runs(batch) if r.launched > fourth]
    assert late == [], f"checkpoints started after the abort: {late}"


def _task_pid_running_agent(ticket: str, checkpoint: str, timeout: float = 240) -> int:
    """The Airflow task process that runs `ticket`'s agent at `checkpoint`: the parent of its bwrap."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in psutil.process_iter(["pid", "ppid", "cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if "bwrap" in cmd and f"NIGHTSHIFT_TICKET {ticket}" in cmd and f"NIGHTSHIFT_CHECKPOINT {checkpoint}" in cmd:
                # bwrap's own child (the sandbox's init) has the same command line: the task process is
                # the parent of the outermost one, never another bwrap.
                try:
                    parent = psutil.Process(proc.info["ppid"])
                    if "bwrap" not in " ".join(parent.cmdline()):
                        return parent.pid
                except psutil.Error:
                    continue
        time.sleep(0.5)
    raise AssertionError(f"no agent process for {ticket} {checkpoint} within {timeout}s")


def test_killed_task_is_retried_without_duplicates(demo_batch, env):
    import os
    import signal

    env.write_config(env.config, {"agent": {"scripted": {"assignments": {"DEMO-6": "slow"}}}})
    slow = Path(env.config["agent"]["scripted"]["behaviours_dir"]) / "slow.yaml"
    slow.write_text("description: slow C2\ncheckpoints:\n  C2:\n    steps:\n      - sleep: 12\n"
                    "      - append: {path: src/calc/ops.py, content: \"# slow change\\n\"}\n")
    try:
        run_id = env.stack.trigger({"wait_for_windows": False, "batch_id": "2026-01-07-e2e-kill",
                                    "ticket_ids": ["DEMO-6"]})
        pid = _task_pid_running_agent("DEMO-6", "C2")
        os.kill(pid, signal.SIGKILL)
        assert env.stack.wait_for_run(run_id, timeout=TIMEOUT) == "success"
    finally:
        env.write_config(env.config)
    batch = env.batch_dir("2026-01-07-e2e-kill")
    final = outcomes(batch)
    assert final["DEMO-6"] == "completed"
    assert final["DEMO-7"] == "carried_over"  # not selected by ticket_ids; its dependency is elsewhere
    ticket = [t for t in env.stack.task_instances(run_id) if t["task_id"] == "ticket"]
    assert ticket and ticket[0]["try_number"] >= 2  # the kill cost one try
    mrs = [mr for mr in env.merge_requests() if mr["source_branch"] == "agent/DEMO-6"]
    assert len(mrs) == 1
    remote = env.gitlab.repo_url("demo/calc")
    import subprocess

    log = subprocess.run(["git", "log", "--format=%s", "main..agent/DEMO-6"], capture_output=True, text=True,
                         cwd=env.root / "gitlab" / "repositories" / "demo" / "calc.git", check=True).stdout
    assert len(log.splitlines()) == 1, log
    assert remote
