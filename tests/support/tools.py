"""Pinned tools the tests install on first use (nightshift.gates.tools), skipped loudly offline.

The tests that need a real tool (semgrep, an agent CLI) install it once into a cached folder with the
product's own installer; only when the package registry cannot be reached do they skip, saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest

from nightshift.gates.tools import ToolInstallError

T = TypeVar("T")

#: What pip and npm print when the registry cannot be reached.
UNREACHABLE = (
    "Network is unreachable",
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Failed to establish a new connection",
    "Could not fetch URL",
    "ConnectTimeoutError",
    "ENOTFOUND",
    "EAI_AGAIN",
    "ECONNREFUSED",
)


def installed_or_skip(install: Callable[[], T], what: str, also_unreachable: Sequence[str] = ()) -> T:
    """`install()`, or a loud skip when its installer could not reach the registry."""
    try:
        return install()
    except ToolInstallError as exc:
        if any(sign in exc.output for sign in (*UNREACHABLE, *also_unreachable)):
            pytest.skip(
                f"!!! SKIPPED: the registry is unreachable, {what} not installed: {exc.output.strip()[-400:]}"
            )
        raise
