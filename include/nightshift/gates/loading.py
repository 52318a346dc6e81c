"""Loading a gates config from a file for `python -m nightshift gates`. Apart from gates/config.py
because it reads the deployment config, which itself embeds GatesConfig: keeping it here keeps the
two modules free of an import loop."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from nightshift.config import load_config
from nightshift.gates.config import GatesConfig
from nightshift.safe_yaml import load_yaml_text


def load_gates_config(path: Path | None) -> GatesConfig:
    """A gates config from a file: either a whole Nightshift config (its `gates:` section is used) or a
    file holding only the gates section. No file: the Nightshift config's section (or the defaults)."""
    if path is None:
        return load_config().gates
    data = load_yaml_text(path.read_bytes(), source=str(path)) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    if "gates" in data:
        section = data["gates"] or {}
    elif set(data) <= set(GatesConfig.model_fields):
        section = data
    else:
        section = {}  # a Nightshift config without a gates section: the defaults
    try:
        return GatesConfig.model_validate(section)
    except ValidationError as exc:
        raise ValueError(f"{path}: {exc}") from exc
