"""Repository path globs as tickets and configs write them: `*` within a folder, `**` across folders,
and a plain folder name covering everything below it (`src/billing` or `src/billing/`).

One grammar for every path rule: ticket scopes (gates), protected paths (the pre-push fence)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

_GLOB_CHARS = set("*?[")


@lru_cache(maxsize=1024)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """`**/` any folders (or none), `/**` everything below, `*` and `?` within one path segment."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(path: str, pattern: str) -> bool:
    pattern = pattern.strip().lstrip("./") if pattern.startswith("./") else pattern.strip()
    if not pattern:
        return False
    if not _GLOB_CHARS & set(pattern):
        folder = pattern.rstrip("/")
        return path == folder or path.startswith(folder + "/")
    return glob_regex(pattern).match(path) is not None


def matches_any(path: str, patterns: Iterable[str]) -> bool:
    return any(matches(path, p) for p in patterns)
