"""One demo environment and one demo batch for the e2e modules that look at the same night.

Starting the local stack and running the demo batch under the real scheduler is the expensive part of
an e2e test (minutes on 2 cores): the generation, gates and morning-refusal modules all look at the
same batch, so they share it. Modules that change the environment (the Celery deployment) keep their
own. Module order matters only for tests that add runs (abort, kill): they use their own batch ids.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from nightshift_local.demo import DEMO, DemoEnvironment

PARALLEL_AGENTS = 2
TIMEOUT = 900
DEMO_BATCH = "2026-01-05-e2e"


@pytest.fixture(scope="session")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoEnvironment]:
    root = tmp_path_factory.mktemp("e2e")
    behaviours = root / "behaviours"
    shutil.copytree(DEMO / "behaviours", behaviours)
    (behaviours / "rate_limit_forever.yaml").write_text(
        "description: rate limited on every run\ncheckpoints:\n  C0:\n    steps:\n"
        "      - rate_limit: {times: 100, reset_seconds: 2}\n"
    )
    environment = DemoEnvironment(
        root, PARALLEL_AGENTS, {"agent": {"scripted": {"behaviours_dir": str(behaviours)}}}
    )
    environment.stack.extra_env["NIGHTSHIFT_PIPELINE_POLL_SECONDS"] = "1"
    environment.start()
    yield environment
    environment.stop()


@pytest.fixture(scope="session")
def shared_demo_batch(demo_env: DemoEnvironment) -> dict[str, Any]:
    """The demo night, run once: its run id, final state, batch folder and task instances (each mapped
    ticket instance carries its ticket id)."""
    stack = demo_env.stack
    run_id = stack.trigger({"wait_for_windows": False, "batch_id": DEMO_BATCH})
    state = stack.wait_for_run(run_id, timeout=TIMEOUT)
    tis = stack.task_instances(run_id)
    order = stack.xcom(run_id, "start_generation")  # map index i is the i-th ticket of the manifest
    for item in tis:
        if item["task_id"] == "ticket" and item.get("map_index", -1) >= 0:
            item["ticket"] = order[item["map_index"]]
    return {"run_id": run_id, "state": state, "batch": demo_env.batch_dir(DEMO_BATCH), "tis": tis}
