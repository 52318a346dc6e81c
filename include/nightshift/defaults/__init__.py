"""The shipped defaults as package data: nightshift.yaml (the production-shaped configuration),
agents.yaml (agent presets), prices.yaml, prompts/ and semgrep/.

Found through importlib.resources, never relative to a source tree, so a plain (non-editable)
`pip install` of the wheel finds them exactly as a checkout does.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def default_path(*parts: str) -> Path:
    """A shipped default file or folder as a real path (agents and semgrep need one on disk).

    Installs from a wheel or a checkout keep package data as files; a zipped install does not and is
    refused with the reason rather than failing later on a path that does not exist.
    """
    resource = files(__name__).joinpath(*parts)
    if not isinstance(resource, Path):
        raise RuntimeError(
            f"nightshift's defaults ({'/'.join(parts)}) are not files on disk ({type(resource).__name__}): "
            "install the nightshift wheel unzipped (pip install does)"
        )
    return resource
