"""The agent runner: one checkpoint of one ticket, in the sandbox, with evidence on disk.

`AgentRunner.run` never raises for anything the agent does (crash, hang, garbage output, a timeout):
those become a failed CheckpointResult with the reason. It raises SandboxUnavailable when the sandbox
cannot start (an operator problem, fail closed) and ValueError for a request it must not run.

Evidence written to run_dir (all redacted):
  request.json   the request exactly as the agent received it
  stdout.txt     agent stdout (first max_output_bytes; the dropped byte count is in run.json)
  stderr.txt     agent stderr (same cap)
  result.json    the CheckpointResult returned to the caller
  usage.json     token and cost usage
  run.json       exit code, timeout, signals sent, processes left, duration, sandbox on/off, argv
  result.raw.txt what the agent wrote when it could not be parsed (capped)
  out/           the agent's writable result folder (result.json is read from here)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from nightshift import layout
from nightshift.agents.config import AgentConfig
from nightshift.agents.contract import CheckpointRequest, CheckpointResult, parse_result
from nightshift.agents.egress import EgressPolicy, EgressProxy, sandbox_egress
from nightshift.agents.redact import Redactor
from nightshift.agents.sandbox import (
    SANDBOX_HOME,
    SANDBOX_PATH,
    SANDBOX_TMP,
    Mount,
    ProcessLimits,
    ProcessOutcome,
    Sandbox,
    SandboxSpec,
    git_mounts,
    safe_read,
)
from nightshift.artifacts import write_text_atomic

log = logging.getLogger(__name__)

#: Where the runner's files appear inside the sandbox.
SANDBOX_IO = Path("/nightshift")
MAX_RESULT_BYTES = 1024 * 1024


@dataclass
class AgentPaths:
    """The agent-visible paths (inside the sandbox, or the host paths when unsandboxed)."""

    request: Path
    out_dir: Path
    result: Path
    home: Path
    tmp: Path


@dataclass
class Invocation:
    """What a backend wants run: argv, extra environment and extra mounts."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    #: Extra evidence the backend produced before the run (name -> text), e.g. the rendered prompt.
    evidence: dict[str, str] = field(default_factory=dict)
    #: A host file given to the agent as stdin (the prompt); None = /dev/null.
    stdin: Path | None = None


@dataclass
class RunContext:
    request: CheckpointRequest
    run_dir: Path
    workspace: Path
    paths: AgentPaths
    host_out_dir: Path
    sandboxed: bool
    timeout_seconds: float
    redactor: Redactor
    vars: dict[str, str] = field(default_factory=dict)


class PrepareError(Exception):
    """The backend cannot build a command for this request; the checkpoint fails with this reason."""


class AgentRunner(ABC):
    """Runs one checkpoint of an agent backend. Subclasses say what to run and how to read the result."""

    backend: str = "abstract"

    def __init__(self, config: AgentConfig, *, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self._environ = os.environ if environ is None else environ
        self._secrets: set[str] = set()
        self.sandbox = Sandbox(config.bwrap_path, unsandboxed=config.unsandboxed)

    def register_secrets(self, *values: str | None) -> None:
        """Values redacted from every piece of evidence, besides the environment's secrets: the forge
        and tracker tokens read from Airflow connections (which need not be in the environment)."""
        self._secrets |= {v for v in values if v}

    # -- to implement --
    @abstractmethod
    def prepare(self, ctx: RunContext) -> Invocation:
        """The command to run for this checkpoint (called with run_dir and out/ already created)."""

    def interpret(self, ctx: RunContext, outcome: ProcessOutcome, raw: bytes | None) -> CheckpointResult:
        """Turn the agent's output into a result. Default: the contract's result.json, nothing else."""
        result = parse_result(ctx.request.checkpoint, raw)
        if raw is None and outcome.exit_code not in (0, None):
            result = CheckpointResult.failed(
                ctx.request.checkpoint, f"the agent exited with code {outcome.exit_code} and wrote no result"
            )
        return result

    # -- the public entry point --
    def run(
        self, request: CheckpointRequest, run_dir: Path, *, deadline_monotonic: float | None = None
    ) -> CheckpointResult:
        """Run `request` in the sandbox with the worktree at request.workspace; evidence goes to run_dir."""
        checkpoint = request.checkpoint
        started = time.monotonic()
        redactor = Redactor.from_environ(self._environ, extra=self._secrets)
        run_dir = Path(run_dir).resolve()
        claimed = Path(request.workspace)
        if claimed.is_absolute() and run_dir.is_relative_to(claimed.resolve()):
            raise ValueError(f"run_dir {run_dir} is inside the workspace: the agent could rewrite evidence")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "request.json", request.model_dump_json(indent=2))

        timeout: float = min(self.config.timeout_seconds, request.limits.timeout_seconds)
        if deadline_monotonic is not None:
            remaining = deadline_monotonic - started
            if remaining < 1:
                return self._finish_without_run(
                    run_dir,
                    redactor,
                    CheckpointResult.failed(
                        checkpoint, f"the ticket's deadline passed before {checkpoint.value} started"
                    ),
                )
            timeout = min(timeout, remaining)
        workspace = Path(request.workspace)
        problem = _workspace_problem(workspace)
        if problem:
            return self._finish_without_run(run_dir, redactor, CheckpointResult.failed(checkpoint, problem))
        workspace = workspace.resolve()

        self.sandbox.check()  # fail closed before anything runs
        host_out = run_dir / "out"
        _reset_dir(host_out)
        scratch = run_dir / "sandbox"
        scratch.mkdir(exist_ok=True)
        sandboxed = not self.config.unsandboxed
        if sandboxed:
            paths = AgentPaths(
                request=SANDBOX_IO / "request.json",
                out_dir=SANDBOX_IO / "out",
                result=SANDBOX_IO / "out" / "result.json",
                home=SANDBOX_HOME,
                tmp=SANDBOX_TMP,
            )
        else:
            for name in ("home", "tmp"):
                _reset_dir(run_dir / name)
            paths = AgentPaths(
                request=run_dir / "request.json",
                out_dir=host_out,
                result=host_out / "result.json",
                home=run_dir / "home",
                tmp=run_dir / "tmp",
            )
        ctx = RunContext(
            request=request,
            run_dir=run_dir,
            workspace=workspace,
            paths=paths,
            host_out_dir=host_out,
            sandboxed=sandboxed,
            timeout_seconds=timeout,
            redactor=redactor,
        )
        ctx.vars = {
            **self.config.command_vars,
            "workspace": str(workspace),
            "home": str(paths.home),
            "checkpoint": checkpoint.value,
            "ticket_id": request.ticket.id,
            "result_path": str(paths.result),
            "request_path": str(paths.request),
        }
        try:
            invocation = self.prepare(ctx)
        except PrepareError as exc:
            return self._finish_without_run(run_dir, redactor, CheckpointResult.failed(checkpoint, str(exc)))
        for name, text in invocation.evidence.items():
            write_text_atomic(run_dir / name, redactor.text(text))

        env = self._agent_env(ctx, invocation)
        try:
            mounts = [*git_mounts(workspace, scratch), *invocation.mounts]
        except (ValueError, OSError, subprocess.SubprocessError) as exc:
            return self._finish_without_run(
                run_dir, redactor, CheckpointResult.failed(checkpoint, f"cannot expose the worktree: {exc}")
            )
        if sandboxed:
            mounts += [
                Mount(run_dir / "request.json", dest=paths.request),
                Mount(host_out, dest=paths.out_dir, writable=True),
            ]
        limits = ProcessLimits(
            timeout_seconds=timeout,
            grace_seconds=self.config.grace_seconds,
            memory_mb=_min_positive(self.config.memory_mb, request.limits.memory_mb),
            max_processes=_min_positive(self.config.max_processes, request.limits.max_processes),
            max_output_bytes=min(self.config.max_output_bytes, request.limits.max_output_bytes),
            max_file_mb=self.config.max_file_mb,
            scratch_mb=self.config.scratch_mb,
        )
        argv = invocation.argv
        proxy: EgressProxy | None = None
        if self.config.network == "allow" and sandboxed:
            proxy = EgressProxy(
                EgressPolicy(tuple(self.config.allowed_hosts), frozenset(self.config.allow_loopback_ports))
            )
            proxy.start()
            wiring = sandbox_egress(proxy.socket_path, proxy_loopback=bool(self.config.allow_loopback_ports))
            argv, mounts = [*wiring.argv_prefix, *argv], [*mounts, *wiring.mounts]
            env.update(wiring.env)
        elif self.config.network == "allow":
            log.warning(
                "agent.unsandboxed: the egress allow-list cannot be enforced, the agent has the network"
            )
        spec = SandboxSpec(
            argv=argv,
            cwd=workspace,
            env=env,
            limits=limits,
            workspace=workspace,
            scratch_dir=scratch,
            mounts=mounts,
            stdin=invocation.stdin,
        )
        process_started = dt.datetime.now(dt.UTC)
        try:
            outcome = self.sandbox.run(spec)
        finally:
            process_ended = dt.datetime.now(dt.UTC)
            if proxy is not None:
                proxy.stop()
        egress = [d.as_dict() for d in proxy.decisions] if proxy is not None else []

        raw = safe_read(host_out / "result.json", MAX_RESULT_BYTES)
        _scrub_dir(host_out, redactor)  # the raw result and anything else the agent left may hold secrets
        if raw is not None and len(raw) > MAX_RESULT_BYTES:
            result = CheckpointResult.failed(
                checkpoint, f"the agent's result is over {MAX_RESULT_BYTES} bytes"
            )
        else:
            result = self.interpret(ctx, outcome, raw)
        if outcome.timed_out and result.status != "rate_limited":
            # (A CLI still retrying the API's rate limit when its time ran out is a rate limit.)
            result = CheckpointResult(
                checkpoint=checkpoint,
                status="failed",
                usage=result.usage,
                reason=f"timed out after {round(timeout)}s",
            )
        elif outcome.error:
            result = CheckpointResult.failed(checkpoint, f"the agent could not start: {outcome.error}")
        if result.status == "failed" and raw is not None and "result" in result.reason:
            write_text_atomic(run_dir / "result.raw.txt", redactor.bytes(raw[:MAX_RESULT_BYTES]))
        result = result.model_copy(update={"duration_seconds": round(time.monotonic() - started, 3)})
        result = CheckpointResult.model_validate(redactor.value(result.model_dump(mode="json")))

        write_text_atomic(run_dir / "stdout.txt", redactor.bytes(outcome.stdout))
        write_text_atomic(run_dir / "stderr.txt", redactor.bytes(outcome.stderr))
        write_text_atomic(run_dir / layout.RUN_RESULT, result.model_dump_json(indent=2))
        write_text_atomic(run_dir / layout.RUN_USAGE, result.usage.model_dump_json(indent=2))
        write_text_atomic(
            run_dir / layout.RUN_RECORD,
            json.dumps(
                redactor.value(
                    {
                        "backend": self.backend,
                        "checkpoint": checkpoint.value,
                        "ticket": request.ticket.id,
                        "sandboxed": outcome.sandboxed,
                        "network": self.config.network,
                        "allowed_hosts": self.config.allowed_hosts,
                        "egress": egress,
                        "exit_code": outcome.exit_code,
                        "timed_out": outcome.timed_out,
                        "timeout_seconds": round(timeout, 3),
                        "signals_sent": outcome.signals_sent,
                        "processes_left": outcome.processes_left,
                        "duration_seconds": outcome.duration_seconds,
                        # Wall-clock bounds of the sandboxed process, to the microsecond: what the
                        # parallel_agents proof measures overlaps with.
                        "process_started_at": process_started.isoformat(),
                        "process_ended_at": process_ended.isoformat(),
                        "stdout_dropped_bytes": outcome.stdout_dropped,
                        "stderr_dropped_bytes": outcome.stderr_dropped,
                        "env_names": sorted(env),
                        "argv": outcome.argv,
                        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        "status": result.status,
                    }
                ),
                indent=2,
            ),
        )
        log.info(
            "%s %s: %s in %.1fs (exit %s%s)",
            request.ticket.id,
            checkpoint.value,
            result.status,
            outcome.duration_seconds,
            outcome.exit_code,
            ", timed out" if outcome.timed_out else "",
        )
        return result

    # -- helpers --
    def _agent_env(self, ctx: RunContext, invocation: Invocation) -> dict[str, str]:
        """The agent's complete environment: fixed basics, configured values, allowlisted names."""
        path = ":".join([*self.config.path_prepend, SANDBOX_PATH])
        env = {
            "PATH": path,
            "HOME": str(ctx.paths.home),
            "TMPDIR": str(ctx.paths.tmp),
            "USER": "agent",
            "LOGNAME": "agent",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "NO_COLOR": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for key, value in self.config.env.items():
            env[key] = Template(value).safe_substitute(ctx.vars)
        for name in self.config.env_allowlist:
            if name in self._environ:
                env[name] = self._environ[name]
        env.update(invocation.env)
        env.update(
            {
                "NIGHTSHIFT_CHECKPOINT": ctx.request.checkpoint.value,
                "NIGHTSHIFT_TICKET": ctx.request.ticket.id,
                "NIGHTSHIFT_REQUEST": str(ctx.paths.request),
                "NIGHTSHIFT_RESULT": str(ctx.paths.result),
                "NIGHTSHIFT_WORKSPACE": str(ctx.workspace),
            }
        )
        return env

    def _finish_without_run(
        self, run_dir: Path, redactor: Redactor, result: CheckpointResult
    ) -> CheckpointResult:
        result = CheckpointResult.model_validate(redactor.value(result.model_dump(mode="json")))
        write_text_atomic(run_dir / layout.RUN_RESULT, result.model_dump_json(indent=2))
        write_text_atomic(run_dir / layout.RUN_USAGE, result.usage.model_dump_json(indent=2))
        write_text_atomic(
            run_dir / layout.RUN_RECORD,
            json.dumps(
                {"backend": self.backend, "ran": False, "status": result.status, "reason": result.reason},
                indent=2,
            ),
        )
        return result


def _workspace_problem(workspace: Path) -> str | None:
    if not workspace.is_absolute():
        return f"the workspace {workspace} is not an absolute path"
    if not workspace.is_dir():
        return f"the workspace {workspace} does not exist"
    resolved = workspace.resolve()
    if resolved == Path("/") or len(resolved.parts) < 3:
        return f"the workspace {workspace} is too close to / to hand to an agent"
    return None


def _min_positive(configured: int, requested: int) -> int:
    """The tighter of two limits; a configured 0 means the operator turned the limit off for this
    backend (Node-based CLIs reserve more address space than any sane RLIMIT_AS)."""
    if configured <= 0:
        return 0
    return min(configured, requested) if requested > 0 else configured


def _scrub_dir(path: Path, redactor: Redactor, max_bytes: int = 5 * 1024 * 1024) -> None:
    """Drop the raw result.json (result.json in run_dir is its redacted form) and redact, or delete
    when large, everything else the agent wrote into its out/ folder. Symlinks are removed unread."""
    for entry in sorted(path.rglob("*"), reverse=True):
        if entry.is_symlink() or (
            entry.is_file() and (entry.name == "result.json" or entry.stat().st_size > max_bytes)
        ):
            entry.unlink()
        elif entry.is_file():
            data = safe_read(entry, max_bytes)
            if data is None:
                entry.unlink()
            else:
                entry.write_text(redactor.bytes(data), encoding="utf-8")
        elif not entry.is_dir():
            entry.unlink()  # FIFOs, sockets, devices


def _reset_dir(path: Path) -> None:
    import shutil

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
