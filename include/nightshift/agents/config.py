"""Agent runner configuration: which backend runs, how it is sandboxed, and what it may see.

Composed by the root config under its `agent:` key. A `preset:` names an entry of
include/nightshift/defaults/agents.yaml whose fields act as defaults; keys set here override them
(`env` and `command_vars` are merged key by key).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nightshift.agents.contract import Checkpoint
from nightshift.agents.prices import DEFAULT_PRICES_FILE
from nightshift.defaults import default_path
from nightshift.models import TicketId
from nightshift.safe_yaml import load_yaml_file

DEFAULT_PRESETS_FILE = default_path("agents.yaml")
DEFAULT_PROMPTS_DIR = default_path("prompts")
#: The demo's scripted behaviours live in the source tree (include/demo): the demo runs from a checkout.
DEFAULT_BEHAVIOURS_DIR = Path(__file__).resolve().parents[2] / "demo" / "behaviours"

BackendName = Literal["scripted", "command"]
NetworkMode = Literal["off", "allow"]
#: How the command backend reads the CLI's own report (usage, final answer, rate limits): adapters.py.
UsageFormat = Literal["none", "claude-json", "codex-jsonl", "aider-text", "mini-traj"]

_ENV_NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
_VAR_NAME_RE = re.compile(r"\A[a-z_][a-z0-9_]{0,63}\Z")
_HOST_PORT_RE = re.compile(r"\A(?:\[[0-9A-Fa-f:.]+\]|(?:\*\.)?[A-Za-z0-9.-]{1,253}):[0-9]{1,5}\Z")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_BEHAVIOUR_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")

#: Environment names the runner sets itself; config cannot override them.
RESERVED_ENV = frozenset({"HOME", "TMPDIR", "USER", "LOGNAME"})
#: Names never copied into the sandbox, whatever the allowlist says: Airflow's own settings hold
#: the task token, the Fernet key and the metadata DB password (security fact 2).
_FORBIDDEN_ENV_PREFIXES = ("AIRFLOW", "_AIRFLOW", "NIGHTSHIFT_", "GIT_", "SSH_", "LD_", "PYTHON")

#: Variables the command backend fills in itself (see command.py); config vars may not shadow them.
BUILTIN_VARS = frozenset(
    {
        "prompt",
        "prompt_file",
        "prompt_yaml_file",
        "result_path",
        "request_path",
        "workspace",
        "checkpoint",
        "ticket_id",
        "home",
        "out_dir",
    }
)


class ScriptedConfig(BaseModel):
    """The deterministic agent used by the demo and the tests (include/demo/behaviours/README.md)."""

    model_config = ConfigDict(extra="forbid")

    behaviours_dir: Path = DEFAULT_BEHAVIOURS_DIR
    #: Counters that must survive separate runs (rate limits): <state_dir>/<batch>/<ticket>/.
    state_dir: Path = Field(
        default_factory=lambda: (
            Path(os.environ.get("NIGHTSHIFT_HOME") or Path.home() / ".nightshift") / "scripted-state"
        )
    )
    #: ticket id -> behaviour name (a file stem in behaviours_dir), for demos that reuse example files.
    assignments: dict[TicketId, str] = Field(default_factory=dict)
    #: Interpreter that runs `python -m nightshift.agents.scripted`; default: the one running Nightshift.
    python: str | None = None

    @field_validator("assignments")
    @classmethod
    def _names_are_safe(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value.values():
            if not _BEHAVIOUR_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not a behaviour name (letters, digits, '_', '-')")
        return value


class AgentConfig(BaseModel):
    """How Nightshift runs one coding agent per checkpoint."""

    model_config = ConfigDict(extra="forbid")

    backend: BackendName = "scripted"
    preset: str | None = None
    presets_file: Path = DEFAULT_PRESETS_FILE

    # -- command backend --
    #: argv template; `$name` placeholders are filled per checkpoint (command.py lists them).
    command: list[str] = Field(default_factory=list)
    #: Extra `$name` values for the command and env templates (model name, API base, binary path...).
    command_vars: dict[str, str] = Field(default_factory=dict)
    prompts_dir: Path = DEFAULT_PROMPTS_DIR
    #: Give the agent the prompt on stdin (else stdin is /dev/null): `claude -p`, `codex exec -`.
    prompt_stdin: bool = False
    #: Dotted key under which $prompt_yaml_file holds the prompt (mini-swe-agent: run.task).
    prompt_yaml_key: str = Field(
        default="prompt", pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
    )
    #: Checkpoints for which a missing result.json is synthesised from the exit code and git status.
    synthesise_results: list[Checkpoint] = Field(default_factory=lambda: [Checkpoint.C2])
    usage_format: UsageFormat = "none"
    #: Prices per model for CLIs that report tokens but no cost (nightshift.agents.prices).
    prices_file: Path = DEFAULT_PRICES_FILE
    #: The model name looked up in the price table; default: command_vars.model.
    price_model: str | None = None

    # -- limits (per checkpoint) --
    timeout_seconds: int = Field(default=1800, ge=1)
    grace_seconds: float = Field(default=5.0, ge=0, le=300)
    memory_mb: int = Field(default=2048, ge=0)  # RLIMIT_AS; 0 = no limit (Node-based CLIs need that)
    max_processes: int = Field(default=256, ge=0)  # RLIMIT_NPROC; 0 = no limit
    max_output_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_file_mb: int = Field(default=1024, ge=0)  # RLIMIT_FSIZE; 0 = no limit
    #: Size of each scratch tmpfs in the sandbox (/tmp, /var/tmp, home), memory-backed; 0 = kernel default.
    scratch_mb: int = Field(default=512, ge=0)

    # -- isolation --
    #: off: no network at all. allow: only `allowed_hosts`, through Nightshift's egress proxy (egress.py);
    #: the sandbox never shares the worker's network, and loopback, private, link-local and the host's
    #: own addresses are refused whatever the list says.
    network: NetworkMode = "off"
    #: The endpoints the agent needs (host:port, or *.domain:port). Required with network=allow; enforced
    #: by the proxy and recorded in the run evidence.
    allowed_hosts: list[str] = Field(default_factory=list)
    #: TEST ONLY: host-loopback ports the proxy may reach (a stub model on 127.0.0.1). Each must also be
    #: in allowed_hosts as 127.0.0.1/localhost/[::1]:PORT. Production config never sets this.
    allow_loopback_ports: list[int] = Field(default_factory=list)
    #: Names copied from the parent environment, e.g. the agent's own model key.
    env_allowlist: list[str] = Field(default_factory=list)
    #: Fixed values (templated with command_vars and $home/$workspace).
    env: dict[str, str] = Field(default_factory=dict)
    #: Explicit operator opt-out of the sandbox. Never the default: the runner fails closed.
    unsandboxed: bool = False
    bwrap_path: str = "/usr/bin/bwrap"
    #: Extra read-only host paths the agent needs (its install, a toolchain). Venvs bring their base Python.
    ro_binds: list[Path] = Field(default_factory=list)
    #: Entries put in front of PATH inside the sandbox.
    path_prepend: list[str] = Field(default_factory=list)
    min_free_disk_mb: int = Field(default=1024, ge=0)

    scripted: ScriptedConfig = Field(default_factory=ScriptedConfig)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("preset"):
            return data
        presets = load_presets(Path(data.get("presets_file") or DEFAULT_PRESETS_FILE))
        name = data["preset"]
        if name not in presets:
            raise ValueError(f"unknown agent preset {name!r}; known: {', '.join(sorted(presets)) or 'none'}")
        merged: dict[str, Any] = dict(presets[name])
        for key, value in data.items():
            if key in ("env", "command_vars") and isinstance(value, dict):
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
        return merged

    @field_validator("env_allowlist")
    @classmethod
    def _allowlist_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _ENV_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if name.upper().startswith(_FORBIDDEN_ENV_PREFIXES) or name in RESERVED_ENV:
                raise ValueError(f"{name!r} may not be passed to an agent (reserved or Airflow-internal)")
        return names

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not _ENV_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if name in RESERVED_ENV or name.startswith("NIGHTSHIFT_") or name.startswith("LD_"):
                raise ValueError(f"{name!r} is set by the runner and cannot be configured")
        return env

    @field_validator("command_vars")
    @classmethod
    def _var_names(cls, values: dict[str, str]) -> dict[str, str]:
        for name in values:
            if not _VAR_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not a template variable name (lower case, digits, '_')")
            if name in BUILTIN_VARS:
                raise ValueError(f"${name} is filled in by Nightshift and cannot be configured")
        return values

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if not _HOST_PORT_RE.match(host):
                raise ValueError(f"{host!r} is not host:port")
        return hosts

    @model_validator(mode="after")
    def _consistent(self) -> AgentConfig:
        if self.network == "allow" and not self.allowed_hosts:
            raise ValueError(
                "network: allow needs allowed_hosts (the model API host:port the agent may reach)"
            )
        if self.network == "off" and self.allowed_hosts:
            raise ValueError("allowed_hosts is set but network is off: set network: allow, or drop the hosts")
        for port in self.allow_loopback_ports:
            if not any(f"{host}:{port}" in self.allowed_hosts for host in _LOOPBACK_HOSTS):
                raise ValueError(
                    f"allow_loopback_ports: {port} is not in allowed_hosts as 127.0.0.1:{port} "
                    "(test-only setting)"
                )
        if self.backend == "command" and not self.command:
            raise ValueError("backend: command needs a command (argv template) or a preset that has one")
        return self


def load_presets(path: Path) -> dict[str, dict[str, Any]]:
    """Read the backend presets file (a `presets:` mapping of name -> AgentConfig fields)."""
    data = load_yaml_file(path)
    presets = (data or {}).get("presets") if isinstance(data, dict) else None
    if not isinstance(presets, dict):
        raise ValueError(f"{path}: expected a 'presets:' mapping")
    out: dict[str, dict[str, Any]] = {}
    for name, body in presets.items():
        if not isinstance(body, dict):
            raise ValueError(f"{path}: preset {name!r} is not a mapping")
        fields = {k: v for k, v in body.items() if k != "description"}
        if "preset" in fields or "presets_file" in fields:
            raise ValueError(f"{path}: preset {name!r} may not name another preset")
        out[str(name)] = fields
    return out
