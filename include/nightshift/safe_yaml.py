"""A YAML loader for untrusted input: no anchors or aliases, no duplicate keys, bounded size and depth.

`yaml.safe_load` accepts alias bombs (a 414-byte file that explodes when serialised, e.g. into XCom);
this loader refuses them before any object is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

MAX_YAML_BYTES = 1024 * 1024
MAX_DEPTH = 32


class UnsafeYamlError(ValueError):
    """The document was refused before it was parsed into objects."""


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent: Node | None, index: object) -> Node | None:  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise UnsafeYamlError(
                f"YAML aliases (*{event.anchor}) are not allowed (line {event.start_mark.line + 1})"
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise UnsafeYamlError(
                f"YAML anchors (&{anchor}) are not allowed (line {event.start_mark.line + 1})"
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise UnsafeYamlError(f"YAML nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)  # type: ignore[arg-type]
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise UnsafeYamlError(f"duplicate key {key!r} (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


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
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except UnsafeYamlError as exc:
        raise UnsafeYamlError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise UnsafeYamlError(f"{source}: invalid YAML: {exc}") from None


def load_yaml_file(path: Path, *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """Read at most max_bytes + 1 bytes, so a huge file is refused without reading it whole."""
    with path.open("rb") as handle:
        raw = handle.read(max_bytes + 1)
    return load_yaml_text(raw, source=str(path), max_bytes=max_bytes)
