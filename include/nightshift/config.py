"""Deployment configuration: include/nightshift/defaults/nightshift.yaml, or the file NIGHTSHIFT_CONFIG names.

Environment variables override any key (`NIGHTSHIFT__BATCH__PARALLEL_AGENTS=4`, nightshift.config_env);
the file must be valid by itself, and the merged result is validated by the same schema. Every section is a
pydantic model, so a typo fails at load time with its path, and a bad override with its variable.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nightshift.agents.config import AgentConfig
from nightshift.config_env import EnvOverride, apply_overrides, blame, read_overrides
from nightshift.defaults import default_path
from nightshift.forge.fence import FencePolicy
from nightshift.gates.config import GatesConfig
from nightshift.generation.escalation import EscalationPolicy
from nightshift.generation.usage import Budget
from nightshift.intake.config import IntakeConfig
from nightshift.models import BatchConfig, Duration, parse_duration
from nightshift.safe_yaml import load_yaml_file
from nightshift.schedule import Schedule, Windows

#: The shipped, production-shaped default: package data (nightshift.defaults), so a wheel install has it.
DEFAULT_CONFIG = default_path("nightshift.yaml")

#: The Airflow pool every agent step and gate check takes a slot of. The name is fixed here and only
#: here; its slots are `batch.parallel_agents` (`agents_pool`), set by `airflow pools set $(python -m
#: nightshift config pool)` in compose's init service and by `make up`: one source of truth.
AGENTS_POOL = "nightshift_agents"
#: The batch DAG's id, and its mapped task that runs one ticket (one instance per ticket, labelled by its
#: id), named once for the DAG file, the grid policy, the review page, the local stack and the bench.
DAG_ID = "nightshift_nightly_batch"
TICKET_TASK_ID = "ticket"


def _home() -> Path:
    """NIGHTSHIFT_HOME, else ~/.nightshift: where state lives when the config names no place."""
    return Path(os.environ.get("NIGHTSHIFT_HOME") or Path.home() / ".nightshift")


class AlertsConfig(BaseModel):
    """Deadline alerts of the night (Airflow DeadlineAlert): generation not finished when the gates
    window opens, or no review queue `review_grace` after the review window. `notifier` is the dotted
    path of an Airflow notifier class (e.g. airflow.providers.slack.notifications.slack.SlackNotifier),
    built with `notifier_kwargs`; the message is `{{ nightshift_alert }}` in its templated fields.
    Without one, the alert is a warning in the triggerer's log."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    notifier: str | None = None
    notifier_kwargs: dict[str, Any] = Field(default_factory=dict)
    review_grace: Duration = "15m"


class ForgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gitlab_conn_id: str = "gitlab_default"
    labels: list[str] = Field(default_factory=lambda: ["nightshift"])
    default_branch: str = "main"
    #: The pre-push fence (nightshift.forge.fence): protected paths, secrets, gitlinks, binaries, sizes.
    fence: FencePolicy = Field(default_factory=FencePolicy)


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)
    dependency_poll_seconds: float = Field(default=5.0, gt=0)
    pause_poll_seconds: float = Field(default=5.0, gt=0)
    #: Optional spending limits per ticket and per night (nightshift.generation.usage).
    budget: Budget = Field(default_factory=Budget)
    #: Longest pause an agent-reported rate limit may cause (its reset time is the agent's word);
    #: never past the end of the generation window either.
    rate_limit_max_wait: Duration = "1h"

    @model_validator(mode="before")
    @classmethod
    def _no_pool_setting(cls, data: Any) -> Any:
        if isinstance(data, dict) and "pool" in data:
            raise ValueError(
                f"generation.pool is no longer a setting: the agents pool is always {AGENTS_POOL!r}, "
                "its slots are batch.parallel_agents; remove the key"
            )
        return data

    @property
    def rate_limit_max_wait_delta(self) -> dt.timedelta:
        return dt.timedelta(seconds=parse_duration(self.rate_limit_max_wait))


class NightshiftConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    artifacts_url: str = Field(default_factory=lambda: f"file://{_home() / 'artifacts'}")
    workdir: str = Field(default_factory=lambda: str(_home() / "work"))
    batch: BatchConfig = Field(default_factory=BatchConfig)
    schedule: Schedule = Field(default_factory=Schedule)
    windows: Windows = Field(default_factory=Windows)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    forge: ForgeConfig = Field(default_factory=ForgeConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    gates: GatesConfig = Field(default_factory=GatesConfig)


class ConfigError(ValueError):
    pass


def agents_pool(config: NightshiftConfig) -> tuple[str, int]:
    """The agents pool's name and slots, as every deployment path creates it."""
    return AGENTS_POOL, config.batch.parallel_agents


def pool_shortfall(batch_id: str, requested: int, slots: int) -> str | None:
    """The warning for a manifest that asks for more agents at once than the pool has slots (a manifest
    kept from an earlier run, or written by hand): the extra agents would queue, and the deadline-aware
    order, planned for `requested` agents, would leave tickets unfinished at the gates window."""
    if requested <= slots:
        return None
    return (
        f"batch {batch_id}: the manifest asks for parallel_agents={requested} but the {AGENTS_POOL} pool "
        f"has {slots} slot(s) (batch.parallel_agents): at most {slots} agent(s) will run at once and "
        f"tickets planned for {requested} may carry over; raise batch.parallel_agents and re-run "
        "`airflow pools set $(python -m nightshift config pool)`, or lower the manifest's parallel_agents"
    )


class CheckedConfig(BaseModel):
    """A configuration file and the environment overrides, checked: the config when both are valid."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    config: NightshiftConfig | None = None
    overrides: list[EnvOverride] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


def config_path(path: Path | None = None) -> Path:
    """The configuration file in use: `path`, else NIGHTSHIFT_CONFIG, else the shipped default."""
    return path or Path(os.environ.get("NIGHTSHIFT_CONFIG") or DEFAULT_CONFIG)


def _named(exc: ValidationError, file: Path | None, overrides: list[EnvOverride]) -> list[str]:
    """One line per error, named by the file, or (with `file` None) by the variable(s) behind it; then
    errors no override explains are left out (the file's own check has reported them)."""
    lines: list[str] = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        value = "" if error["type"] == "missing" else f" (got {error.get('input')!r:.60})"
        if file is not None:
            who = str(file)
        elif culprits := blame(error["loc"], overrides):
            who = ", ".join(o.variable for o in culprits)
        else:
            continue
        lines.append(f"{who}: {where}: {error['msg']}{value}")
    return lines


def check_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> CheckedConfig:
    """Validate the file by itself (its problems named by the file and key path), then with the
    environment overrides applied (theirs named by the variable): every problem at once."""
    path = config_path(path)
    overrides, problems = read_overrides(environ)
    checked = CheckedConfig(path=path, overrides=overrides)
    try:
        data = load_yaml_file(path) or {}
    except (ValueError, OSError) as exc:
        checked.problems = [f"{path}: {exc}", *problems]
        return checked
    if not isinstance(data, dict):
        checked.problems = [f"{path}: the top level must be a mapping of sections, not {type(data).__name__}"]
        return checked
    try:
        NightshiftConfig.model_validate(data)
    except ValidationError as exc:
        problems = [*_named(exc, path, overrides), *problems]
    merged, merge_problems = apply_overrides(data, overrides)
    problems += merge_problems
    try:
        config = NightshiftConfig.model_validate(merged)
    except ValidationError as exc:
        problems += _named(exc, None, overrides)
    else:
        if not problems:
            checked.config = config
    checked.problems = problems
    return checked


def load_config(path: Path | None = None) -> NightshiftConfig:
    """The configuration in use; ConfigError lists every problem of the file and of the overrides."""
    checked = check_config(path)
    if checked.config is None:
        raise ConfigError("\n".join(checked.problems) or f"{checked.path}: invalid")
    return checked.config


@lru_cache(maxsize=4)
def cached_config(path: str | None = None) -> NightshiftConfig:
    return load_config(Path(path) if path else None)


def config_problems(path: Path | None = None) -> list[str]:
    """Every problem of a configuration file and of the environment overrides, one line each, named by
    its key path and by the file or the variable: what `python -m nightshift config check` prints."""
    return check_config(path).problems
