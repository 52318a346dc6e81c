"""The agents pool from one source of truth: its name is nightshift.config.AGENTS_POOL, its slots are
batch.parallel_agents; a manifest asking for more agents than that gets a warning at intake."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nightshift.config import AGENTS_POOL, ConfigError, load_config, pool_shortfall


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("NIGHTSHIFT")}


def test_generation_pool_is_no_longer_a_second_name(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("NIGHTSHIFT_"):
            monkeypatch.delenv(name)
    path = tmp_path / "nightshift.yaml"
    path.write_text("generation: {pool: my_pool}\n")
    with pytest.raises(ConfigError, match=r"generation.pool is no longer a setting.*nightshift_agents"):
        load_config(path)


def test_config_pool_follows_parallel_agents_and_its_overrides(tmp_path):
    path = tmp_path / "nightshift.yaml"
    path.write_text("batch: {parallel_agents: 5}\n")
    cmd = [sys.executable, "-m", "nightshift", "config", "pool", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=_clean_env(), check=True)
    assert out.stdout.split() == [AGENTS_POOL, "5"]
    env = {**_clean_env(), "NIGHTSHIFT__BATCH__PARALLEL_AGENTS": "7"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, check=True)
    assert out.stdout.split() == [AGENTS_POOL, "7"]


def test_pool_shortfall_names_the_batch_the_request_and_the_slots():
    assert pool_shortfall("2026-01-05-overnight", 3, 3) is None
    assert pool_shortfall("2026-01-05-overnight", 2, 3) is None
    warning = pool_shortfall("2026-01-05-overnight", 6, 3)
    assert warning is not None
    assert "2026-01-05-overnight" in warning and "parallel_agents=6" in warning
    assert f"{AGENTS_POOL} pool has 3 slot(s)" in warning
