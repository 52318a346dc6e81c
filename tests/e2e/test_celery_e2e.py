"""The distributed path, tested without Docker: the demo batch on PostgreSQL (metadata) and Redis (broker)
with CeleryExecutor and two Celery workers, each a separate process that names itself, so every task
instance records which worker ran it.

Checks that the agents pool holds across the workers (at most parallel_agents agent checkpoints at once,
measured from the agent runs' own evidence) and that artifacts one worker wrote were read by the other
(a step that succeeded on one worker after its ticket's previous step ran on the other).

Runs when the deployment extras are installed and PostgreSQL (127.0.0.1:5432, user postgres, trust auth)
and Redis (127.0.0.1:6379) answer; starts an installed server that is not running; skips with the reason
otherwise. Its database and Redis db are private and removed afterwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from nightshift.agents.evidence import agent_runs, peak_concurrency
from nightshift_local.celery_stack import CeleryDeployment, missing_packages, start_servers
from nightshift_local.demo import DemoEnvironment

pytestmark = [pytest.mark.e2e, pytest.mark.celery, pytest.mark.timeout(1200)]

PARALLEL_AGENTS = 2
WORKERS = ("worker-a", "worker-b")
BATCH = "2026-01-05-celery"
CELERY_TICKETS = ["DEMO-1", "DEMO-2", "OPS-1", "CALC-1"]
#: (writer, reader): the reader reads what the writer recorded in the batch's artifacts.
HANDOFFS = [
    ("ticket.c0_scope", "ticket.c1_plan"),
    ("ticket.c1_plan", "ticket.c2_implement"),  # C2 first runs the escalation check on C1's record
    ("ticket.c2_implement", "ticket.draft_merge_request"),
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
    order = stack.xcom(run_id, "start_generation")
    for item in tis:
        if item["task_id"].startswith("ticket.") and item.get("map_index", -1) >= 0:
            item["ticket"] = order[item["map_index"]]
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
    by_step = {(t["task_id"], t.get("ticket")): t for t in batch["tis"]}
    crossed = [
        (ticket, writer, reader)
        for (task_id, ticket), ti in by_step.items()
        for writer, reader in HANDOFFS
        if task_id == writer
        and ti["state"] == "success"
        and (following := by_step.get((reader, ticket))) is not None
        and following["state"] == "success"
        and following["hostname"] != ti["hostname"]
    ]
    print(f"\ncross-worker handoffs: {crossed}")
    assert crossed
    # A C1 that ran on the other worker had C0's recorded result in its request (read from the artifacts).
    for ticket, writer, reader in crossed:
        if (writer, reader) == HANDOFFS[0]:
            requests = sorted(Path(batch["dir"]).glob(f"tickets/{ticket}/runs/*C1*/request.json"))
            assert requests and "C0" in json.loads(requests[-1].read_text())["previous"]
