"""Tracker description formats to markdown, through nightshift.trackers.text when it is installed.

The converter module is imported lazily: markdown and plain text need no conversion, so intake works
(and is tested) without it; ADF and wiki bodies need it and say so when it is missing.
"""

from __future__ import annotations

import json
from importlib import import_module
from typing import Any

from nightshift.trackers.base import DescriptionFormat


class ConversionError(ValueError):
    """A description that cannot be turned into markdown."""


def _converter(name: str) -> Any:
    try:
        module = import_module("nightshift.trackers.text")
    except ImportError as exc:
        raise ConversionError(f"nightshift.trackers.text is needed to convert this format ({exc})") from None
    return getattr(module, name)


def to_markdown(text: str, fmt: DescriptionFormat) -> str:
    """Markdown for a description (or comment) in its tracker's own format."""
    if fmt in ("markdown", "text"):
        return text
    if fmt == "wiki":
        return str(_converter("wiki_to_markdown")(text))
    if fmt == "adf":
        if not text.strip():
            return ""
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ConversionError(f"the ADF description is not JSON ({exc})") from None
        return str(_converter("adf_to_markdown")(document))
    raise ConversionError(f"unknown description format {fmt!r}")
