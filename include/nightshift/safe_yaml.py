"""A YAML loader for untrusted input: no anchors or aliases, no duplicate keys, bounded size and depth.

`yaml.safe_load` accepts alias bombs (a 414-byte file that explodes when serialised, e.g. into XCom);
this loader refuses them before any object is built. The checks walk the parser's event stream
(libyaml's C parser when PyYAML has it), then the document is built by the safe loader: a 10,000-ticket
manifest is checked and loaded in about a second instead of several.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_YAML_BYTES = 1024 * 1024
MAX_DEPTH = 32

_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # type: ignore[assignment]


class UnsafeYamlError(ValueError):
    """The document was refused before it was parsed into objects."""


class _Mapping:
    """Keys seen so far in one mapping, and whether the next node is a key."""

    __slots__ = ("expect_key", "keys")

    def __init__(self) -> None:
        self.keys: set[tuple[str | None, str]] = set()
        self.expect_key = True


def _check_events(text: str) -> None:
    """Refuse anchors, aliases, nesting deeper than MAX_DEPTH, non-scalar keys and duplicate keys."""
    stack: list[_Mapping | None] = []  # None for a sequence
    for event in yaml.parse(text, Loader=_SafeLoader):
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.AliasEvent):
            raise UnsafeYamlError(f"YAML aliases (*{event.anchor}) are not allowed (line {line})")
        if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            raise UnsafeYamlError(f"YAML anchors (&{event.anchor}) are not allowed (line {line})")
        parent = stack[-1] if stack else None
        is_key = isinstance(parent, _Mapping) and parent.expect_key
        if isinstance(event, yaml.ScalarEvent):
            if is_key and isinstance(parent, _Mapping):
                key = (event.tag, event.value)
                if key in parent.keys:
                    raise UnsafeYamlError(f"duplicate key {event.value!r} (line {line})")
                parent.keys.add(key)
            if isinstance(parent, _Mapping):
                parent.expect_key = not parent.expect_key
        elif isinstance(event, yaml.CollectionStartEvent):
            if is_key:
                raise UnsafeYamlError(f"complex mapping keys are not allowed (line {line})")
            if isinstance(parent, _Mapping):
                parent.expect_key = not parent.expect_key
            if len(stack) >= MAX_DEPTH:
                raise UnsafeYamlError(f"YAML nested deeper than {MAX_DEPTH} levels (line {line})")
            stack.append(_Mapping() if isinstance(event, yaml.MappingStartEvent) else None)
        elif isinstance(event, yaml.CollectionEndEvent):
            stack.pop()


def load_yaml_text(data: bytes | str, *, source: str = "<input>", max_bytes: int = MAX_YAML_BYTES) -> Any:
    """Parse one YAML document from untrusted bytes or text."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise UnsafeYamlError(f"{source}: {len(raw)} bytes is over the {max_bytes}-byte limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeYamlError(f"{source}: not UTF-8 (byte {exc.start})") from exc
    try:
        _check_events(text)
        return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a SafeLoader, after the checks above
    except UnsafeYamlError as exc:
        raise UnsafeYamlError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise UnsafeYamlError(f"{source}: invalid YAML: {exc}") from None


def load_yaml_file(path: Path, *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """Read at most max_bytes + 1 bytes, so a huge file is refused without reading it whole."""
    with path.open("rb") as handle:
        raw = handle.read(max_bytes + 1)
    return load_yaml_text(raw, source=str(path), max_bytes=max_bytes)
