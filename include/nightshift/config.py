"""Deployment configuration: include/config/nightshift.yaml, or the file NIGHTSHIFT_CONFIG names.

Environment variables override single values where a deployment needs it (NIGHTSHIFT_ARTIFACTS_URL,
NIGHTSHIFT_WORKDIR). Every section is a pydantic model, so a typo fails at load time with its path.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nightshift.agents.config import AgentConfig
from nightshift.forge.fence import FencePolicy
from nightshift.gates.config import GatesConfig
from nightshift.generation.escalation import EscalationPolicy
from nightshift.intake.config import IntakeConfig
from nightshift.models import BatchConfig
from nightshift.safe_yaml import load_yaml_file

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "nightshift.yaml"


def _home() -> Path:
    """NIGHTSHIFT_HOME, else ~/.nightshift: where state lives when the config names no place."""
    return Path(os.environ.get("NIGHTSHIFT_HOME") or Path.home() / ".nightshift")


class Windows(BaseModel):
    """The spec's schedule after intake, as local times in the batch timezone (NIGHTSHIFT_TIMEZONE, which
    also drives the 17:00 intake timetable, NIGHTSHIFT_INTAKE_CRON); the DAG waits for each, deferred."""

    model_config = ConfigDict(extra="forbid")

    generation: str = "18:00"
    gates: str = "06:00"
    review: str = "08:00"


class ForgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gitlab_conn_id: str = "gitlab_default"
    labels: list[str] = Field(default_factory=lambda: ["nightshift"])
    default_branch: str = "main"
    #: The pre-push fence (nightshift.forge.fence): protected paths, secrets, gitlinks, binaries, sizes.
    fence: FencePolicy = Field(default_factory=FencePolicy)


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pool: str = "nightshift_agents"
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)
    dependency_poll_seconds: float = Field(default=5.0, gt=0)
    pause_poll_seconds: float = Field(default=5.0, gt=0)


class NightshiftConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    artifacts_url: str = Field(default_factory=lambda: f"file://{_home() / 'artifacts'}")
    workdir: str = Field(default_factory=lambda: str(_home() / "work"))
    batch: BatchConfig = Field(default_factory=BatchConfig)
    windows: Windows = Field(default_factory=Windows)
    forge: ForgeConfig = Field(default_factory=ForgeConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    gates: GatesConfig = Field(default_factory=GatesConfig)


class ConfigError(ValueError):
    pass


def load_config(path: Path | None = None) -> NightshiftConfig:
    path = path or Path(os.environ.get("NIGHTSHIFT_CONFIG") or DEFAULT_CONFIG)
    try:
        data = load_yaml_file(path) or {}
        config = NightshiftConfig.model_validate(data)
    except (ValidationError, ValueError, OSError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    updates: dict[str, str] = {}
    if url := os.environ.get("NIGHTSHIFT_ARTIFACTS_URL"):
        updates["artifacts_url"] = url
    if workdir := os.environ.get("NIGHTSHIFT_WORKDIR"):
        updates["workdir"] = workdir
    return config.model_copy(update=updates) if updates else config


@lru_cache(maxsize=4)
def cached_config(path: str | None = None) -> NightshiftConfig:
    return load_config(Path(path) if path else None)
