"""Import, once per Airflow process, the modules every Nightshift task needs.

Airflow on Linux forks its task processes (LocalExecutor workers from the scheduler, tasks from the
workers, DAG-file parsers from the dag-processor). Whatever the parent imported is already loaded in
the child, so a task's start-up parse of dags/nightly_batch.py drops from importing the operators, the
generation flow, pydantic models and python-gitlab (about 2 s of CPU on a busy 2-core machine) to
building the DAG (under 0.1 s). Every task instance pays that start-up.

Used from `airflow_local_settings.py` in `$AIRFLOW_HOME/config/`, written by `install()`: the local
stack (nightshift_local.stack) and the image (`python -m nightshift_airflow.preload /opt/airflow/config`
in the Dockerfile) write the same file. A module that fails to import is logged and skipped: the
preload only saves time, it must never stop Airflow from starting.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

MODULES = (
    "nightshift_airflow.operators.ticket_steps",
    "nightshift_airflow.operators.batch",
    "nightshift_airflow.operators.intake",
    "nightshift_airflow.runtime",
    "nightshift_airflow.priority",
    "nightshift_airflow.schedule",
    "nightshift_airflow.sensors.windows",
    "nightshift_airflow.sensors.pipeline",
    "nightshift_airflow.operators.gates",
    "nightshift_airflow.hooks.gitlab",
    "airflow.sdk.definitions.decorators",  # the DAG file's @dag/@task_group: the task's start-up parse
    "gitlab.v4.objects",  # python-gitlab loads its REST objects lazily, on a task's first request
    "nightshift.generation.flow",
    "nightshift.agents.runner",
    "nightshift.agents.workspace",
    "nightshift.forge.merge_requests",
    "nightshift.intake.pipeline",
)


#: The whole of `$AIRFLOW_HOME/config/airflow_local_settings.py`.
LOCAL_SETTINGS = '''"""Written by Nightshift: load the task modules before Airflow forks (see preload)."""

from nightshift_airflow.preload import preload

preload()
'''


def install(config_dir: Path) -> Path:
    """Write airflow_local_settings.py into `config_dir` (created if missing); rewriting it is harmless."""
    from nightshift.artifacts import write_text_atomic

    target = config_dir / "airflow_local_settings.py"
    write_text_atomic(target, LOCAL_SETTINGS)
    target.chmod(0o644)  # every Airflow process reads it, whatever uid the container runs as
    return target


def preload() -> list[str]:
    """Import MODULES; return the ones that failed."""
    failed = []
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a preload must never break the process that runs it
            log.warning("nightshift preload: %s not imported: %s", name, exc)
            failed.append(name)
    return failed


if __name__ == "__main__":  # python -m nightshift_airflow.preload CONFIG_DIR
    if len(sys.argv) != 2:
        sys.exit("usage: python -m nightshift_airflow.preload AIRFLOW_HOME/config")
    print(install(Path(sys.argv[1])))
