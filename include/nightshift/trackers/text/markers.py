"""Nightshift's markers: how an idempotent comment is found again, hidden in each Jira format."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["WIKI_MARKER_RE", "adf_marker", "hidden", "is_adf_marker", "unescape_anchor", "wiki_marker"]

_MARKER_COLOR = "#97a0af"
WIKI_MARKER_RE = re.compile(r"\{anchor:(nightshift_3A[A-Za-z0-9_-]*)\}")


def wiki_marker(marker: str) -> str:
    """A marker in wiki markup: an `{anchor}` macro, which Jira renders as an empty, invisible anchor.

    Anchor names cannot hold ':', '=' or ';' (macro syntax), so every byte outside [A-Za-z0-9-] is
    written `_XX` (hex), reversibly: converted to markdown, the marker reads `<!-- marker -->` again.
    """
    escaped = "".join(
        chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) == "-") else f"_{b:02X}"
        for b in marker.encode()
    )
    return "{anchor:" + escaped + "}"


def unescape_anchor(name: str) -> str:
    out = bytearray()
    i = 0
    while i < len(name):
        if name[i] == "_" and re.fullmatch(r"[0-9A-F]{2}", name[i + 1 : i + 3]):
            out.append(int(name[i + 1 : i + 3], 16))
            i += 3
        else:
            out.extend(name[i].encode())
            i += 1
    return out.decode(errors="replace")


def adf_marker(marker: str) -> dict[str, Any]:
    """A marker in ADF: ADF has no hidden node, so a paragraph of small grey subscript text."""
    marks = [
        {"type": "subsup", "attrs": {"type": "sub"}},
        {"type": "textColor", "attrs": {"color": _MARKER_COLOR}},
    ]
    return {"type": "paragraph", "content": [{"type": "text", "text": marker, "marks": marks}]}


def is_adf_marker(node: Any, marker: str | None = None) -> bool:
    """Whether `node` is a marker paragraph (for `marker`, or any Nightshift marker)."""
    if not isinstance(node, dict) or node.get("type") != "paragraph":
        return False
    content = node.get("content") or []
    if len(content) != 1 or not isinstance(content[0], dict) or content[0].get("type") != "text":
        return False
    text = str(content[0].get("text", ""))
    if marker is not None:
        return text == marker
    marks = {m.get("type") for m in content[0].get("marks") or [] if isinstance(m, dict)}
    return "subsup" in marks and text.startswith("nightshift:")


def hidden(marker: str) -> str:
    return f"<!-- {marker} -->"
