"""`make up`: the local deployment on loopback from one settings file (deploy/local.yaml).

Starts the api-server (127.0.0.1 only), scheduler, dag-processor and triggerer (log serving off) with
the Nightshift configuration the settings name, the connections they list (as AIRFLOW_CONN_* variables,
values may be `${ENV_VAR}`), and the agents pool sized from that configuration's
`batch.parallel_agents` (one source of truth). Prints the URL and the credentials, runs the configured
timetable, and stops every component on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nightshift.config import AGENTS_POOL, load_config
from nightshift.safe_yaml import load_yaml_file
from nightshift_local.stack import REPO, AirflowStack

DEFAULT_SETTINGS = REPO / "deploy" / "local.yaml"


class Settings(BaseModel):
    """deploy/local.yaml. Relative paths are relative to the settings file."""

    model_config = ConfigDict(extra="forbid")

    home: str = "../var/airflow"
    port: int = Field(default=8080, ge=1, le=65535)
    nightshift_config: str = "../include/nightshift/defaults/nightshift.yaml"
    nightshift_home: str = "../var/nightshift"
    timezone: str | None = None
    #: conn_id -> Airflow connection fields (conn_type, host, login, password, extra).
    connections: dict[str, dict[str, Any]] = Field(default_factory=dict)


def _expand(value: Any) -> Any:
    """`${NAME}` in a string is the environment variable NAME (a clear error when it is not set)."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ValueError(f"settings refer to ${{{name}}}, which is not set in the environment")
            return os.environ[name]

        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, value)
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    return value


def build_stack(settings_file: Path) -> AirflowStack:
    """The stack `make up` runs, from the settings file alone."""
    settings = Settings.model_validate(load_yaml_file(settings_file) or {})
    base = settings_file.resolve().parent
    config_path = (base / settings.nightshift_config).resolve()
    config = load_config(config_path)  # fails here, naming the key, before anything starts
    env = {
        "NIGHTSHIFT_CONFIG": str(config_path),
        "NIGHTSHIFT_HOME": str((base / settings.nightshift_home).resolve()),
        "NIGHTSHIFT_DISABLE_SCHEDULE": "",  # the configured timetable runs
    }
    if settings.timezone:
        env["NIGHTSHIFT_TIMEZONE"] = settings.timezone
    for conn_id, fields in settings.connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(_expand(fields))
    return AirflowStack(
        home=(base / settings.home).resolve(),
        port=settings.port,
        pool_slots=config.batch.parallel_agents,
        extra_env=env,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make up", description=__doc__)
    parser.add_argument("settings", nargs="?", default=str(DEFAULT_SETTINGS))
    args = parser.parse_args(argv)
    stack = build_stack(Path(args.settings))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stack.start()
        print(f"nightshift up: Airflow at {stack.base_url} (127.0.0.1 only)", flush=True)
        print(f"nightshift up: user admin, password {stack.password}", flush=True)
        print(f"nightshift up: pool {AGENTS_POOL} = {stack.pool_slots}; logs in {stack.home / 'logs'}")
        print("nightshift up: ready; Ctrl-C stops every component", flush=True)
        while not stop.wait(1):
            for name, proc in stack.processes.items():
                if proc.poll() is not None:
                    print(f"nightshift up: {name} exited ({proc.returncode}); stopping", file=sys.stderr)
                    return 1
        return 0
    finally:
        stack.stop()
        print("nightshift up: stopped", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
