"""AgentConfig validation and preset merging."""

from __future__ import annotations

from pathlib import Path

import pytest

from nightshift.agents.config import AgentConfig


def test_defaults_are_safe():
    config = AgentConfig()
    assert config.backend == "scripted" and config.network == "off" and config.unsandboxed is False
    assert config.env_allowlist == [] and config.synthesise_results == ["C2"]


@pytest.mark.parametrize("fields, message", [
    ({"network": "allow"}, "needs allowed_hosts"),
    ({"allowed_hosts": ["api.openai.com:443"]}, "network is off"),
    ({"network": "allow", "allowed_hosts": ["api.openai.com"]}, "host:port"),
    ({"backend": "command"}, "needs a command"),
    ({"network": "allow", "allowed_hosts": ["api.openai.com:443"], "allow_loopback_ports": [8000]},
     "test-only setting"),
    ({"network": "allow", "allowed_hosts": ["10.0.0.1:8000"], "allow_loopback_ports": [8000]}, "test-only"),
    ({"network": "allow", "allowed_hosts": ["*:443"]}, "host:port"),
    ({"env_allowlist": ["AIRFLOW__CORE__FERNET_KEY"]}, "Airflow-internal"),
    ({"env_allowlist": ["_AIRFLOW_WWW_USER_PASSWORD"]}, "Airflow-internal"),
    ({"env_allowlist": ["HOME"]}, "reserved"),
    ({"env_allowlist": ["LD_PRELOAD"]}, "reserved"),
    ({"env_allowlist": ["BAD NAME"]}, "not an environment variable name"),
    ({"env": {"NIGHTSHIFT_RESULT": "/x"}}, "set by the runner"),
    ({"env": {"LD_PRELOAD": "/x.so"}}, "set by the runner"),
    ({"command_vars": {"prompt": "x"}}, "filled in by Nightshift"),
    ({"command_vars": {"Bad-Name": "x"}}, "not a template variable"),
    ({"preset": "nope"}, "unknown agent preset 'nope'"),
    ({"scripted": {"assignments": {"PROJ-1": "../etc/passwd"}}}, "not a behaviour name"),
    ({"scripted": {"assignments": {"PROJ-1$(id)": "normal"}}}, "not a valid ticket id"),
    ({"surprise": True}, "Extra inputs"),
    ({"timeout_seconds": 0}, "greater than or equal to 1"),
])
def test_rejections(fields, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
        AgentConfig(**fields)


def test_preset_values_are_defaults_and_keys_override(tmp_path: Path):
    presets = tmp_path / "agents.yaml"
    presets.write_text(
        "presets:\n  mine:\n    description: x\n    backend: command\n    command: [tool, $prompt]\n"
        "    env: {A: '1', B: '2'}\n    timeout_seconds: 60\n")
    config = AgentConfig(preset="mine", presets_file=presets, env={"B": "3"}, timeout_seconds=90)
    assert config.command == ["tool", "$prompt"] and config.env == {"A": "1", "B": "3"}
    assert config.timeout_seconds == 90


def test_presets_file_is_loaded_safely(tmp_path: Path):
    presets = tmp_path / "agents.yaml"
    presets.write_text("presets:\n  a: &x {backend: scripted}\n  b: *x\n")
    with pytest.raises(ValueError, match="anchors"):
        AgentConfig(preset="a", presets_file=presets)
