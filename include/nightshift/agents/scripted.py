"""A deterministic agent for the demo and the tests, and the backend that runs it.

The agent itself runs INSIDE the sandbox as `python -I -m nightshift.agents.scripted`: it reads the
request and a per-ticket behaviour file (format: include/demo/behaviours/README.md), performs the
scripted steps in the worktree and writes result.json. Because it goes through exactly the same
sandbox, limits and result parsing as a real CLI, every failure mode (hang, crash, rate limit, leaked
token, daemon) exercises the real machinery. The host side (ScriptedRunner) lives in
scripted_backend.py, so the agent does not import the runner when it starts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nightshift.agents.contract import Checkpoint, CheckpointRequest, CheckpointResult
from nightshift.models import Ticket, check_repo_glob

# --------------------------------------------------------------------------- behaviour file

_MARKER_RE = r"^[A-Za-z0-9_.-]{1,64}$"


class FileEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    content: str = ""


class CrashSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exit_code: int = Field(default=1, ge=1, le=255)
    message: str = "scripted crash"


class DaemonSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: int = Field(default=1000, ge=1)
    marker: str = Field(default="nightshift-scripted-daemon", pattern=_MARKER_RE)
    #: Keep the agent's stdout/stderr open in the daemon, as a careless test runner would.
    keep_output: bool = True


class RateLimitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    times: int = Field(default=1, ge=1)
    reset_seconds: int = Field(default=60, ge=0)


class FakeTokenSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["gitlab", "github", "openai"] = "gitlab"
    #: Also put the token in the result's reason (to check that results are redacted too).
    in_result: bool = False


class RunSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cmd: str
    check: bool = False  # crash the agent if the command fails


class Step(BaseModel):
    """One action; exactly one field is set (written in YAML as a one-key mapping)."""

    model_config = ConfigDict(extra="forbid")

    write: FileEdit | None = None
    append: FileEdit | None = None
    delete: str | None = None
    patch: str | None = None
    run: RunSpec | str | None = None
    print: str | None = None
    print_stderr: str | None = None
    print_fake_token: FakeTokenSpec | Literal["gitlab", "github", "openai"] | None = None
    sleep: float | None = Field(default=None, ge=0)
    hang: bool | None = None
    ignore_sigterm: bool | None = None
    crash: CrashSpec | int | None = None
    fork_daemon: DaemonSpec | None = None
    rate_limit: RateLimitSpec | None = None
    write_result: str | None = None
    no_result: bool | None = None
    usage: dict[str, float] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        chosen = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(f"a step has exactly one action, got {chosen or 'none'}")
        return self

    @property
    def action(self) -> str:
        return next(name for name in type(self).model_fields if getattr(self, name) is not None)


class CheckpointBehaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[Step] = Field(default_factory=list)
    #: CheckpointResult fields merged over the default result for this checkpoint.
    result: dict[str, Any] = Field(default_factory=dict)
    escalate: str | None = None  # shortcut: status escalate, plan.escalation_reason
    partial: list[str] | None = None  # shortcut: status partial, implementation.remaining_work
    fail: str | None = None  # shortcut: status failed with this reason


class Behaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    checkpoints: dict[Checkpoint, CheckpointBehaviour] = Field(default_factory=dict)


class BehaviourError(ValueError):
    """A behaviour file that cannot be used; the checkpoint fails with this reason."""


def load_behaviour(path: Path) -> Behaviour:
    from nightshift.safe_yaml import UnsafeYamlError, load_yaml_file

    try:
        data = load_yaml_file(path, max_bytes=256 * 1024)
        return Behaviour.model_validate(data or {})
    except (UnsafeYamlError, ValidationError, OSError) as exc:
        raise BehaviourError(f"behaviour file {path.name} is invalid: {exc}") from None


# --------------------------------------------------------------------------- the agent (in the sandbox)


def default_file(ticket: Ticket) -> str:
    """The file the default behaviour edits: the first concrete estimated file, else a notes file."""
    for pattern in ticket.estimated_files:
        if not any(ch in pattern for ch in "*?[") and not pattern.endswith("/"):
            return pattern
    return f"docs/agent-notes/{ticket.id}.md"


def default_result(request: CheckpointRequest, touched: list[str]) -> dict[str, Any]:
    ticket = request.ticket
    title = ticket.title or ticket.id
    if request.checkpoint == Checkpoint.C0:
        files = ticket.estimated_files or [default_file(ticket)]
        return {"status": "ok", "scope": {"summary": f"{ticket.id}: {title}", "files": files}}
    if request.checkpoint == Checkpoint.C1:
        return {
            "status": "ok",
            "plan": {
                "plan": f"Make the smallest change for {ticket.id} in {default_file(ticket)}.",
                "risks": [],
                "complexity": ticket.complexity,
            },
        }
    return {
        "status": "ok",
        "implementation": {
            "summary": f"Implemented {ticket.id}: {title}",
            "bullets": [f"Edit {path}" for path in touched],
            "files_changed": touched,
            "tests_run": [],
            "tests_passed": None,
        },
    }


def default_steps(request: CheckpointRequest) -> list[Step]:
    if request.checkpoint != Checkpoint.C2:
        return []
    ticket = request.ticket
    line = f"{ticket.id}: {ticket.title or 'change'} (scripted agent)"
    path = default_file(ticket)
    prefix = "# " if path.endswith((".py", ".sh", ".yaml", ".yml", ".toml", ".cfg", ".txt")) else ""
    return [Step(append=FileEdit(path=path, content=f"{prefix}{line}\n"))]


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def fake_token(kind: str, seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    if kind == "github":
        return "ghp_" + (digest * 2)[:36]
    if kind == "openai":
        return "sk-" + digest[:32]
    return "glpat-" + digest[:20]


class _Stop(Exception):
    def __init__(
        self, result: dict[str, Any] | None = None, raw: str | None = None, write: bool = True
    ) -> None:
        self.result, self.raw, self.write = result, raw, write


class ScriptedAgent:
    """Executes a behaviour for one checkpoint in the worktree (the current directory)."""

    def __init__(
        self, request: CheckpointRequest, behaviour: Behaviour | None, state_dir: Path | None
    ) -> None:
        self.request = request
        self.workspace = Path(request.workspace)
        self.behaviour = behaviour
        self.state_dir = state_dir
        self.touched: list[str] = []
        self.usage: dict[str, float] = {}
        self.extra_reason = ""

    def plan(self) -> CheckpointBehaviour:
        if self.behaviour is not None and self.request.checkpoint in self.behaviour.checkpoints:
            return self.behaviour.checkpoints[self.request.checkpoint]
        return CheckpointBehaviour(steps=default_steps(self.request))

    def run(self) -> tuple[dict[str, Any] | None, str | None]:
        """Returns (result dict, raw text): raw wins when set; (None, None) means write nothing."""
        todo = self.plan()
        try:
            for step in todo.steps:
                self._do(step)
        except _Stop as stop:
            if not stop.write:
                return None, None
            return stop.result, stop.raw
        result = default_result(self.request, self.touched)
        if todo.escalate is not None and self.request.escalation_answer:
            result = _deep_merge(
                result,
                {"plan": {"plan": f"Proceed as answered by a human: {self.request.escalation_answer}"}},
            )
        elif todo.escalate is not None:
            result = {
                "status": "escalate",
                "reason": todo.escalate,
                "plan": {"plan": "", "escalation_reason": todo.escalate},
            }
        if todo.partial is not None:
            result = _deep_merge(
                result,
                {
                    "status": "partial",
                    "reason": "completed what was feasible",
                    "implementation": {"remaining_work": todo.partial},
                },
            )
        if todo.fail is not None:
            result = {"status": "failed", "reason": todo.fail}
        result = _deep_merge(result, todo.result)
        if self.extra_reason:
            result["reason"] = (result.get("reason", "") + " " + self.extra_reason).strip()
        if self.usage:
            result["usage"] = self.usage
        return result, None

    # -- steps --
    def _path(self, rel: str) -> Path:
        check_repo_glob(rel)
        path = (self.workspace / rel).resolve()
        if not path.is_relative_to(self.workspace.resolve()):
            raise ValueError(f"{rel!r} leaves the workspace")
        return path

    def _touch(self, rel: str) -> None:
        if rel not in self.touched:
            self.touched.append(rel)

    def _do(self, step: Step) -> None:
        action = step.action
        if step.write is not None or step.append is not None:
            edit = step.write or step.append
            assert edit is not None
            path = self._path(edit.path)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a" if action == "append" else "w", encoding="utf-8") as handle:
                handle.write(edit.content)
            self._touch(edit.path)
        elif step.delete is not None:
            self._path(step.delete).unlink(missing_ok=True)
            self._touch(step.delete)
        elif step.patch is not None:
            proc = subprocess.run(
                ["git", "apply", "--whitespace=nowarn", "-"],
                input=step.patch.encode(),
                cwd=self.workspace,
                capture_output=True,
                timeout=60,
            )
            if proc.returncode != 0:
                raise _Stop(
                    {
                        "status": "failed",
                        "reason": "patch did not apply: " + proc.stderr.decode(errors="replace")[:500],
                    }
                )
            for match in re.finditer(r"^\+\+\+ b/(\S+)", step.patch, re.MULTILINE):
                self._touch(match.group(1))
        elif step.run is not None:
            spec = step.run if isinstance(step.run, RunSpec) else RunSpec(cmd=step.run)
            sys.stdout.flush()
            code = subprocess.run(["/bin/sh", "-c", spec.cmd], cwd=self.workspace, check=False).returncode
            if spec.check and code != 0:
                raise _Stop({"status": "failed", "reason": f"command exited with {code}: {spec.cmd[:200]}"})
        elif step.print is not None:
            print(step.print, flush=True)
        elif step.print_stderr is not None:
            print(step.print_stderr, file=sys.stderr, flush=True)
        elif step.print_fake_token is not None:
            spec_t = step.print_fake_token
            spec_t = spec_t if isinstance(spec_t, FakeTokenSpec) else FakeTokenSpec(kind=spec_t)
            token = fake_token(spec_t.kind, self.request.ticket.id)
            print(f"debug: authenticating with token {token}", flush=True)
            if spec_t.in_result:
                self.extra_reason = f"(used token {token})"
        elif step.sleep is not None:
            time.sleep(step.sleep)
        elif step.hang:
            while True:
                time.sleep(3600)
        elif step.ignore_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        elif step.crash is not None:
            crash = step.crash if isinstance(step.crash, CrashSpec) else CrashSpec(exit_code=step.crash)
            print(crash.message, file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(crash.exit_code)
        elif step.fork_daemon is not None:
            daemon = step.fork_daemon
            out = None if daemon.keep_output else subprocess.DEVNULL
            sys.stdout.flush()
            subprocess.Popen(
                ["/bin/sh", "-c", f"sleep {daemon.seconds}; : {daemon.marker}"],
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        elif step.rate_limit is not None:
            self._rate_limit(step.rate_limit)
        elif step.write_result is not None:
            raise _Stop(raw=step.write_result)
        elif step.no_result:
            raise _Stop(write=False)
        elif step.usage is not None:
            self.usage = dict(step.usage)

    def _rate_limit(self, spec: RateLimitSpec) -> None:
        if self.state_dir is None or not self.state_dir.is_dir():
            raise _Stop(
                {"status": "failed", "reason": "rate_limit needs the state dir (NIGHTSHIFT_STATE_DIR)"}
            )
        counter = self.state_dir / f"rate_limit.{self.request.checkpoint.value}.count"
        seen = int(counter.read_text().strip() or 0) if counter.is_file() else 0
        if seen >= spec.times:
            return
        tmp = counter.with_suffix(".tmp")
        tmp.write_text(str(seen + 1))
        os.replace(tmp, counter)
        reset = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=spec.reset_seconds)
        raise _Stop(
            {
                "status": "rate_limited",
                "reason": f"rate limited ({seen + 1} of {spec.times}, scripted)",
                "rate_limit_reset_at": reset.isoformat(),
            }
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point inside the sandbox. Paths come from the environment the runner sets."""
    request_path = Path(os.environ["NIGHTSHIFT_REQUEST"])
    result_path = Path(os.environ["NIGHTSHIFT_RESULT"])
    behaviour_env = os.environ.get("NIGHTSHIFT_BEHAVIOUR", "")
    state_env = os.environ.get("NIGHTSHIFT_STATE_DIR", "")
    request = CheckpointRequest.model_validate_json(request_path.read_bytes())
    behaviour = load_behaviour(Path(behaviour_env)) if behaviour_env else None
    agent = ScriptedAgent(request, behaviour, Path(state_env) if state_env else None)
    os.chdir(agent.workspace)
    result, raw = agent.run()
    if result is None and raw is None:
        return 0
    if raw is None:
        result = {"checkpoint": request.checkpoint.value, **(result or {})}
        CheckpointResult.model_validate(result)  # a bad behaviour file shows up here, loudly
        raw = json.dumps(result, indent=2)
    tmp = result_path.with_name(".result.json.tmp")
    tmp.write_text(raw, encoding="utf-8")
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
