"""Which runner a config asks for. Kept apart from runner.py (the base class) so that the backends,
which subclass AgentRunner, and the base never import each other."""

from __future__ import annotations

import logging

from nightshift.agents.command import CommandRunner
from nightshift.agents.config import AgentConfig
from nightshift.agents.runner import AgentRunner
from nightshift.agents.scripted_backend import ScriptedRunner

log = logging.getLogger(__name__)


def build_runner(config: AgentConfig) -> AgentRunner:
    """The runner for config.backend. Probes the sandbox first: raises SandboxUnavailable when
    bubblewrap cannot start and the operator has not set unsandboxed."""
    runner: AgentRunner = CommandRunner(config) if config.backend == "command" else ScriptedRunner(config)
    runner.sandbox.check()
    if config.unsandboxed:
        log.warning(
            "agent sandbox is OFF (agent.unsandboxed: true): agents run with the worker's file access"
        )
    return runner
