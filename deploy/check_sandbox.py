"""Can this container start Nightshift's agent sandbox? Exit 0 if yes (or if the configured agent runs
unsandboxed by explicit opt-out), 1 with the reason if not.

The worker's healthcheck in docker-compose.yaml runs it, so a runtime that blocks user namespaces shows
up as an unhealthy worker at once instead of as failed checkpoints at night. By hand:

    docker compose exec airflow-worker python /opt/nightshift/deploy/check_sandbox.py

It uses the same probe as the agent runner (nightshift.agents.sandbox), with the deployed config.
"""

from __future__ import annotations

import sys

from nightshift.agents.sandbox import Sandbox, SandboxUnavailable
from nightshift.config import ConfigError, load_config


def main() -> int:
    try:
        agent = load_config().agent
    except ConfigError as exc:
        print(f"nightshift sandbox: config invalid: {exc}", file=sys.stderr)
        return 1
    try:
        Sandbox(agent.bwrap_path, unsandboxed=agent.unsandboxed).check()
    except SandboxUnavailable as exc:
        print(f"nightshift sandbox: UNAVAILABLE: {exc}", file=sys.stderr)
        return 1
    if agent.unsandboxed:
        print("nightshift sandbox: OFF (agent.unsandboxed: true) - agents run with the worker's access")
    else:
        print(f"nightshift sandbox: ok ({agent.bwrap_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
