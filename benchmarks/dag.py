"""The DAG file's parse time, as the dag-processor pays it, and as every task instance pays it again.

`dag_parse_s`: a fresh interpreter imports Airflow and DagBag and runs Nightshift's preload, as every
Airflow process of the deployment does from airflow_local_settings.py before it forks its parsers,
workers and tasks (nightshift_airflow.preload); none of that is counted. Then it parses
dags/nightly_batch.py: median of 3 fresh processes. Target: 0.1 s. The same parse without the preload
(the operators, the generation flow, pydantic models and python-gitlab imported by the parse itself)
is shown beside it: that is what each task instance paid before the preload.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator

from benchmarks._harness import REPO, Case, Result, Settings, check, seconds

TARGET = 0.1
DAG_FILE = REPO / "dags" / "nightly_batch.py"

CHILD = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag  # loaded before the clock starts, as in the processor
if sys.argv[2] == "preload":
    from nightshift_airflow.preload import preload
    preload()
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
first = time.perf_counter() - started
started = time.perf_counter()
again = DagBag(dag_folder=sys.argv[1], safe_mode=False)
second = time.perf_counter() - started
print(json.dumps({"first": first, "again": second, "dags": len(bag.dags), "errors": len(bag.import_errors)}))
"""


def bench_parse(settings: Settings) -> Iterator[Result]:
    runs: dict[str, list[dict[str, float]]] = {"preload": [], "cold": []}
    with tempfile.TemporaryDirectory(prefix="nightshift-bench-dag-") as home:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
            "NIGHTSHIFT_DISABLE_SCHEDULE": "1",
        }
        for mode in [m for _ in range(settings.repeats(3, 1)) for m in ("preload", "cold")]:
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(DAG_FILE), mode],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
            check(proc.returncode == 0, f"parse failed: {proc.stderr[-400:]}")
            runs[mode].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    every = runs["preload"] + runs["cold"]
    check(all(r["dags"] == 1 and r["errors"] == 0 for r in every), f"the DAG did not parse cleanly: {runs}")
    first = statistics.median(r["first"] for r in runs["preload"])
    cold = statistics.median(r["first"] for r in runs["cold"])
    yield Result(
        "dag_parse_s",
        f"{seconds(first)} with the preload (median of {len(runs['preload'])} fresh processes); "
        f"{seconds(cold)} without it (the imports a task instance paid before)",
        f"<= {TARGET:g} s",
        first <= TARGET,
        figure=round(first, 4),
    )


CASES = [Case("dag.parse", bench_parse)]
