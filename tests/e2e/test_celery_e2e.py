"""The distributed path, tested without Docker: the demo batch on PostgreSQL (metadata) and Redis (broker)
with CeleryExecutor and two Celery workers, each a separate process that names itself, so every task
instance records which worker ran it.

Checks that the agents pool holds across the workers (at most parallel_agents agent checkpoints at once,
measured from the agent runs' own evidence) and that artifacts one worker wrote were read by the other
(a ticket that started after its dependency finished on the other worker, a batch closed over outcomes
the other worker wrote, gates that scored a commit the other worker's C2 pushed, a dashboard showing
scores the other worker's gates gave).

Runs when the deployment extras are installed and PostgreSQL (127.0.0.1:5432, user postgres, trust auth)
and Redis (127.0.0.1:6379) answer; starts an installed server that is not running; skips with the reason
otherwise. Its database and Redis db are private and removed afterwards.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from nightshift import layout
from nightshift.agents.evidence import agent_runs, peak_concurrency
from nightshift_local.celery_stack import CeleryDeployment, missing_packages, start_servers
from nightshift_local.demo import DemoEnvironment

pytestmark = [pytest.mark.e2e, pytest.mark.celery, pytest.mark.timeout(1200)]

PARALLEL_AGENTS = 2
WORKERS = ("worker-a", "worker-b")
BATCH = "2026-01-05-celery"
CELERY_TICKETS = ["DEMO-1", "DEMO-2", "OPS-1", "CALC-1"]
#: (writer, reader) task instances, by (task id, ticket or None): the reader reads what the writer
#: recorded in the batch's artifacts. Which worker runs what is Celery's choice, so there are enough pairs
#: that at least one crosses workers (all of them landing on one worker: about 1 night in 500).
HANDOFFS = [
    (("ticket", "DEMO-1"), ("ticket", "DEMO-2")),  # DEMO-2 waits for DEMO-1's outcome
    *((("ticket", t), ("finish_generation", None)) for t in CELERY_TICKETS),  # the outcomes, into the manifest
    *((("ticket", t), ("gates.check", t)) for t in CELERY_TICKETS),  # the gates score C2's pushed commit
    *((("gates.check", t), ("review_queue", None)) for t in CELERY_TICKETS),  # the scores, on the dashboard
]


@pytest.fixture(scope="module")
def celery_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoEnvironment]:
    if missing := missing_packages():
        pytest.skip(f"{', '.join(missing)} not importable: install requirements-deploy.txt")
    root = tmp_path_factory.mktemp("celery")
    problems, servers = start_servers(root)
    if problems:
        for proc in servers:
            proc.terminate()
        pytest.skip("; ".join(problems))
    env = DemoEnvironment(root, PARALLEL_AGENTS)
    deployment = CeleryDeployment(env.stack)
    deployment.configure()
    try:
        env.start()
        deployment.start_workers(WORKERS, concurrency=2)
        yield env
    finally:
        deployment.stop()
        env.stop()
        deployment.drop()
        for proc in servers:
            proc.terminate()


@pytest.fixture(scope="module")
def batch(celery_env: DemoEnvironment) -> dict[str, Any]:
    stack = celery_env.stack
    # Four tickets are enough for two workers and a pool of two (11 agent runs, a stacked dependency and
    # an escalation); the rate-limit pauses and the failure chain are the local e2e's business.
    run_id = stack.trigger({"wait_for_windows": False, "batch_id": BATCH, "ticket_ids": CELERY_TICKETS})
    state = _wait_for_run(stack, run_id, timeout=900)
    tis = stack.task_instances(run_id)
    orders = {"ticket": stack.xcom(run_id, "start_generation"), "gates.check": stack.xcom(run_id, "gate_tickets")}
    for item in tis:
        if item["task_id"] in orders and item.get("map_index", -1) >= 0:
            item["ticket"] = orders[item["task_id"]][item["map_index"]]
    return {"state": state, "tis": tis, "dir": celery_env.batch_dir(BATCH)}


def _wait_for_run(stack: Any, run_id: str, timeout: float) -> str:
    """Like stack.wait_for_run, but a slow answer from a busy api-server (two workers and the scheduler on
    a small machine) is a reason to ask again, not a failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = stack.run_state(run_id)
        except (RuntimeError, requests.RequestException):
            state = "unknown"
        if state in ("success", "failed"):
            return state
        time.sleep(5)
    return f"not finished after {timeout}s"


def test_the_demo_batch_completes_on_two_celery_workers(batch):
    assert batch["state"] == "success"
    hosts = {ti["hostname"] for ti in batch["tis"] if ti["state"] == "success"}
    print(
        f"\ntask instances per worker: { {h: sum(t['hostname'] == h for t in batch['tis']) for h in hosts} }"
    )
    assert hosts == set(WORKERS)
    assert (batch["dir"] / "review" / "dashboard.txt").exists()


def test_the_agents_pool_holds_across_the_workers(batch):
    runs = [(run.start, run.end) for run in agent_runs(Path(batch["dir"]))]
    agent_tis = [t for t in batch["tis"] if t.get("pool") == "nightshift_agents" and t["state"] == "success"]
    print(f"\nagent runs: {len(runs)}, peak concurrent: {peak_concurrency(runs)} (pool {PARALLEL_AGENTS})")
    assert len(runs) >= 10 and 1 <= peak_concurrency(runs) <= PARALLEL_AGENTS
    assert {t["hostname"] for t in agent_tis} == set(WORKERS)  # both workers ran agents


def test_artifacts_written_on_one_worker_are_read_on_the_other(batch):
    by_key = {(t["task_id"], t.get("ticket")): t for t in batch["tis"]}
    crossed = [
        (writer, reader)
        for writer, reader in HANDOFFS
        if (first := by_key.get(writer)) is not None
        and first["state"] == "success"
        and (then := by_key.get(reader)) is not None
        and then["state"] == "success"
        and then["hostname"] != first["hostname"]
    ]
    print(f"\ncross-worker handoffs: {crossed}")
    assert crossed
    folder = Path(batch["dir"])
    for (_, written), (task_id, _) in crossed:
        if task_id == "gates.check":  # the gates scored the commit the other worker's C2 pushed
            report = json.loads((folder / layout.gate_report(written)).read_text())
            push = json.loads((folder / layout.push_record(written)).read_text())
            assert report["head"] == push["sha"]
        elif task_id == "review_queue":  # the dashboard shows the score the other worker's gates gave
            report = json.loads((folder / layout.gate_report(written)).read_text())
            dashboard = (folder / layout.REVIEW_DASHBOARD).read_text()
            assert re.search(rf"{written}: .*\[Score: {report['score']}\]", dashboard)
        elif task_id == "finish_generation":  # the batch was closed over the outcome the other worker wrote
            outcome = json.loads((folder / layout.outcome_record(written)).read_text())
            manifest = yaml.safe_load((folder / layout.MANIFEST).read_text())
            assert outcome["state"] in ("completed", "partial") and manifest["status"] == "completed"
        else:  # DEMO-2 started after DEMO-1's outcome, which the other worker wrote
            outcome = json.loads((folder / layout.outcome_record(written)).read_text())
            assert outcome["state"] == "completed"
