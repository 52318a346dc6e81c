"""Environment overrides of the configuration: one general scheme instead of one variable per key.

`NIGHTSHIFT__<SECTION>__<KEY>=value` sets `section.key` (double underscore = one level of nesting,
names are lower-cased): `NIGHTSHIFT__BATCH__PARALLEL_AGENTS=4`, `NIGHTSHIFT__ALERTS__ENABLED=false`,
`NIGHTSHIFT__FORGE__LABELS='[nightshift, night]'`. The value is parsed as one YAML value with the
untrusted-input loader (so `4` is a number, `false` a boolean, `[a, b]` a list), except that a clock time
such as `18:00` stays text (YAML 1.1 would read it as base-60 minutes). The merged document is validated by
the same pydantic schema as the file; a problem caused by an override is named by its variable.

Three older names stay as aliases for one key each, their value taken as plain text:
NIGHTSHIFT_ARTIFACTS_URL, NIGHTSHIFT_WORKDIR and NIGHTSHIFT_TIMEZONE. A `NIGHTSHIFT__` variable for the
same key wins over its alias.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from nightshift.safe_yaml import load_yaml_text

PREFIX = "NIGHTSHIFT__"
#: Older single-key variables: name -> key path.
ALIASES: dict[str, tuple[str, ...]] = {
    "NIGHTSHIFT_ARTIFACTS_URL": ("artifacts_url",),
    "NIGHTSHIFT_WORKDIR": ("workdir",),
    "NIGHTSHIFT_TIMEZONE": ("schedule", "timezone"),
}
_KEY_RE = re.compile(r"\A[a-z_][a-z0-9_]*\Z")
_CLOCK_RE = re.compile(r"\A\s*\d{1,2}(:\d{2}){1,2}\s*\Z")
#: Key names whose values `config check` does not print.
_SECRET_RE = re.compile(r"token|password|secret|key|credential", re.IGNORECASE)
MAX_VALUE_BYTES = 64 * 1024


class EnvOverride(BaseModel):
    """One variable that sets one key of the configuration."""

    model_config = ConfigDict(frozen=True)

    variable: str
    path: tuple[str, ...]
    value: Any

    @property
    def key(self) -> str:
        return ".".join(self.path)

    def describe(self) -> str:
        """`VARIABLE -> key = value`, with secret-looking keys masked: what `config check` prints."""
        shown = "***" if _looks_secret(self.path, self.value) else f"{self.value!r:.60}"
        return f"{self.variable} -> {self.key} = {shown}"


def _looks_secret(path: Sequence[str], value: Any) -> bool:
    """A key path or a mapping key (at any depth of the value) that names a secret."""
    if any(_SECRET_RE.search(str(part)) for part in path):
        return True
    if isinstance(value, dict):
        return any(_looks_secret([key], item) for key, item in value.items())
    if isinstance(value, list):
        return any(_looks_secret([], item) for item in value)
    return False


def _parse_value(raw: str, variable: str) -> Any:
    if _CLOCK_RE.match(raw):
        return raw.strip()
    try:
        return load_yaml_text(raw, source=variable, max_bytes=MAX_VALUE_BYTES)
    except Exception as exc:
        raise ValueError(f"{variable}: not a YAML value: {exc}") from None


def read_overrides(environ: Mapping[str, str] | None = None) -> tuple[list[EnvOverride], list[str]]:
    """The overrides the environment asks for, and one problem line per variable that cannot be one."""
    environ = os.environ if environ is None else environ
    found: dict[tuple[str, ...], EnvOverride] = {}
    problems: list[str] = []
    for variable, path in ALIASES.items():
        if environ.get(variable):
            found[path] = EnvOverride(variable=variable, path=path, value=environ[variable])
    for variable in sorted(name for name in environ if name.startswith(PREFIX)):
        parts = tuple(part.lower() for part in variable[len(PREFIX) :].split("__"))
        bad = [part for part in parts if not _KEY_RE.match(part)]
        if not parts or bad:
            problems.append(
                f"{variable}: not a key path (NIGHTSHIFT__SECTION__KEY, double underscore between levels)"
            )
            continue
        try:
            value = _parse_value(environ[variable], variable)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        found[parts] = EnvOverride(variable=variable, path=parts, value=value)
    return sorted(found.values(), key=lambda o: o.path), problems


def apply_overrides(
    data: Mapping[str, Any], overrides: Sequence[EnvOverride]
) -> tuple[dict[str, Any], list[str]]:
    """A copy of the file's document with every override set, and one problem per override whose path
    runs through a value that is not a section."""
    merged: dict[str, Any] = copy.deepcopy(dict(data))
    problems: list[str] = []
    for override in overrides:
        node = merged
        for depth, part in enumerate(override.path[:-1]):
            child = node.setdefault(part, {})
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(override.path[: depth + 1])
                problems.append(
                    f"{override.variable}: {where} is a value, not a section (cannot set {override.key})"
                )
                break
            node = child
        else:
            node[override.path[-1]] = override.value
    return merged, problems


def blame(loc: Sequence[str | int], overrides: Sequence[EnvOverride]) -> list[EnvOverride]:
    """The overrides a validation error at `loc` comes from: the one that set exactly that key, else
    those on the same branch of the document (a section error, or a value inside a set list)."""
    where = tuple(str(part) for part in loc)
    exact = [o for o in overrides if o.path == where]
    return exact or [o for o in overrides if o.path[: len(where)] == where or where[: len(o.path)] == o.path]
