"""The scripted backend (host side): runs `python -I -m nightshift.agents.scripted` in the sandbox.

Same sandbox as any CLI, plus two read-only/read-write extras: the ticket's behaviour file and a
per-(batch, ticket) state directory that survives runs (rate-limit counters).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from nightshift.agents.runner import AgentRunner, Invocation, PrepareError, RunContext
from nightshift.agents.sandbox import Mount, python_runtime_paths
from nightshift.agents.scripted import BehaviourError, load_behaviour
from nightshift.models import Ticket, check_batch_id

SANDBOX_BEHAVIOUR = Path("/nightshift/behaviour.yaml")
SANDBOX_STATE = Path("/nightshift/state")


class ScriptedRunner(AgentRunner):
    """Runs the scripted agent through the same sandbox as any CLI, plus a read-write state dir."""

    backend = "scripted"

    def behaviour_file(self, ticket: Ticket) -> Path | None:
        """Assignment in config, then <dir>/<TICKET-ID>.yaml, then a `behaviour:<name>` label; else None."""
        cfg = self.config.scripted
        directory = cfg.behaviours_dir
        if ticket.id in cfg.assignments:
            path = directory / f"{cfg.assignments[ticket.id]}.yaml"
            if not path.is_file():
                raise PrepareError(
                    f"behaviour {cfg.assignments[ticket.id]!r} for {ticket.id} not found in {directory}"
                )
            return path
        path = directory / f"{ticket.id}.yaml"  # ticket ids are validated: safe as a file name
        if path.is_file():
            return path
        for label in ticket.labels:
            name = label.removeprefix("behaviour:")
            if name != label and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
                candidate = directory / f"{name}.yaml"
                if candidate.is_file():
                    return candidate
        return None

    def prepare(self, ctx: RunContext) -> Invocation:
        ticket = ctx.request.ticket
        try:
            batch = check_batch_id(ctx.request.batch_id)
        except ValueError as exc:
            raise PrepareError(str(exc)) from None
        behaviour = self.behaviour_file(ticket)
        if behaviour is not None:
            try:
                load_behaviour(behaviour)  # refuse a broken file before starting anything
            except BehaviourError as exc:
                raise PrepareError(str(exc)) from None
        state = (self.config.scripted.state_dir / batch / ticket.id).resolve()
        state.mkdir(parents=True, exist_ok=True)
        python = self.config.scripted.python or sys.executable
        mounts = [Mount(p) for p in _runtime_paths(Path(python))]
        package = Path(__file__).resolve().parents[1]  # .../nightshift
        mounts.append(Mount(package))
        env: dict[str, str] = {"PYDANTIC_DISABLE_PLUGINS": "1"}  # skips an entry-point scan: faster start
        if ctx.sandboxed:
            mounts.append(Mount(state, dest=SANDBOX_STATE, writable=True))
            env["NIGHTSHIFT_STATE_DIR"] = str(SANDBOX_STATE)
            if behaviour is not None:
                mounts.append(Mount(behaviour.resolve(), dest=SANDBOX_BEHAVIOUR))
                env["NIGHTSHIFT_BEHAVIOUR"] = str(SANDBOX_BEHAVIOUR)
        else:
            env["NIGHTSHIFT_STATE_DIR"] = str(state)
            if behaviour is not None:
                env["NIGHTSHIFT_BEHAVIOUR"] = str(behaviour.resolve())
        return Invocation(
            argv=[python, "-I", "-m", "nightshift.agents.scripted"],
            env=env,
            mounts=mounts,
            evidence={"behaviour.txt": str(behaviour) if behaviour else "(default behaviour)\n"},
        )


def _runtime_paths(python: Path) -> list[Path]:
    """Host paths the interpreter needs: its venv, the base install, and anything outside /usr."""
    found = python_runtime_paths(python)
    real = Path(os.path.realpath(python))
    found.append(real.parent.parent)
    if python == Path(sys.executable):
        found += [Path(sys.prefix), Path(sys.base_prefix)]
    out: list[Path] = []
    for path in found:
        resolved = path.resolve()
        if resolved.parts[:2] == ("/", "usr") or resolved == Path("/") or resolved in out:
            continue
        out.append(resolved)
    return out
