"""ADF (Jira Cloud's document format) to markdown and plain text: a walk over the JSON tree.

ADF is a typed tree already, so reading it needs no parser; what it produces is markdown in the form
readiness expects (`## Agent Readiness` / `- [x] item`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from nightshift.trackers.text.markers import hidden, is_adf_marker

__all__ = ["adf_to_markdown", "adf_to_text"]


def adf_to_markdown(adf: dict[str, Any] | str | None) -> str:
    """Render an ADF document (a dict, or its JSON text) as markdown."""
    doc = _load_adf(adf)
    if doc is None:
        return ""
    if doc.get("type") != "doc":
        doc = {"type": "doc", "content": [doc]}
    return "\n".join(_blocks(doc.get("content") or [], "")).strip("\n")


def adf_to_text(adf: dict[str, Any] | str | None) -> str:
    """The plain text of an ADF document (marks dropped), e.g. for search or logs."""
    doc = _load_adf(adf)
    if doc is None:
        return ""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                parts.append(str(node.get("text", "")))
            elif node.get("type") == "hardBreak":
                parts.append("\n")
            for child in node.get("content") or []:
                walk(child)
            if node.get("type") in _BLOCK_TYPES:
                parts.append("\n")

    walk(doc)
    return re.sub(r"\n{3,}", "\n\n", "".join(parts)).strip()


_BLOCK_TYPES = {
    "paragraph",
    "heading",
    "bulletList",
    "orderedList",
    "listItem",
    "taskList",
    "taskItem",
    "codeBlock",
    "blockquote",
    "panel",
    "rule",
    "table",
    "tableRow",
    "expand",
    "nestedExpand",
}


def _load_adf(adf: dict[str, Any] | str | None) -> dict[str, Any] | None:
    if adf is None:
        return None
    if isinstance(adf, str):
        if not adf.strip():
            return None
        adf = json.loads(adf)
    if not isinstance(adf, dict):
        raise ValueError(f"an ADF document must be a JSON object, not {type(adf).__name__}")
    return adf


def _blocks(nodes: list[Any], indent: str) -> list[str]:
    """Render block nodes; blocks are separated by a blank line, except right after a heading."""
    out: list[str] = []
    previous: str | None = None
    for node in nodes:
        if not isinstance(node, dict):
            continue
        lines = _block(node, indent)
        if lines is None:
            continue
        if previous is not None and previous != "heading":
            out.append("")
        out.extend(lines)
        previous = node.get("type")
    return out


def _block(node: dict[str, Any], indent: str) -> list[str] | None:
    kind = node.get("type")
    content = node.get("content") or []
    attrs = node.get("attrs") or {}
    if kind == "paragraph":
        if is_adf_marker(node):
            return [f"{indent}{hidden(str(content[0]['text']))}"]
        return _indent_lines(_inline(content), indent)
    if kind == "heading":
        level = min(max(int(attrs.get("level", 1) or 1), 1), 6)
        return [f"{indent}{'#' * level} {_inline(content).replace(chr(10), ' ')}".rstrip()]
    if kind in ("bulletList", "orderedList"):
        return _list(node, indent)
    if kind == "taskList":
        return _task_list(node, indent)
    if kind == "decisionList":
        return [
            f"{indent}- {_inline(item.get('content') or [])}" for item in content if isinstance(item, dict)
        ]
    if kind == "codeBlock":
        language = attrs.get("language") or ""
        code = "".join(str(t.get("text", "")) for t in content if isinstance(t, dict))
        return [f"{indent}```{language}", *[f"{indent}{line}" for line in code.split("\n")], f"{indent}```"]
    if kind == "blockquote":
        return [f"{indent}> {line[len(indent) :]}".rstrip() for line in _blocks(content, indent)]
    if kind == "rule":
        return [f"{indent}---"]
    if kind in ("expand", "nestedExpand"):
        title = attrs.get("title")
        head = [f"{indent}**{title}**"] if title else []
        return head + ([""] if head and content else []) + _blocks(content, indent)
    if kind == "table":
        return _table(node, indent)
    if kind in ("blockCard", "embedCard"):
        url = attrs.get("url")
        return [f"{indent}<{url}>"] if url else None
    if kind in ("mediaSingle", "mediaGroup", "media", "extension"):
        return None
    if content:  # panel, bodiedExtension, layouts and unknown containers: their content
        if any(isinstance(c, dict) and c.get("type") == "text" for c in content):
            return _indent_lines(_inline(content), indent)
        return _blocks(content, indent)
    return None


def _indent_lines(text: str, indent: str) -> list[str]:
    return [f"{indent}{line}".rstrip() if line else "" for line in text.split("\n")]


def _list(node: dict[str, Any], indent: str) -> list[str]:
    ordered = node.get("type") == "orderedList"
    number = int((node.get("attrs") or {}).get("order", 1) or 1)
    out: list[str] = []
    for item in node.get("content") or []:
        if not isinstance(item, dict):
            continue
        bullet = f"{number}. " if ordered else "- "
        out.extend(_list_item(item.get("content") or [], indent, bullet))
        number += 1
    return out


def _list_item(children: list[Any], indent: str, bullet: str) -> list[str]:
    """First paragraph on the bullet's line; further paragraphs and nested lists indented under it."""
    out: list[str] = []
    child_indent = indent + " " * len(bullet)
    first = True
    for child in children:
        if not isinstance(child, dict):
            continue
        if first and child.get("type") == "paragraph":
            text = _inline(child.get("content") or []).split("\n")
            out.append(f"{indent}{bullet}{text[0]}".rstrip())
            out.extend(f"{child_indent}{line}".rstrip() for line in text[1:])
        else:
            if first:
                out.append(f"{indent}{bullet}".rstrip())
            lines = _block(child, child_indent) or []
            if child.get("type") == "paragraph":
                out.append("")
            out.extend(lines)
        first = False
    if first:
        out.append(f"{indent}{bullet}".rstrip())
    return out


def _task_list(node: dict[str, Any], indent: str) -> list[str]:
    out: list[str] = []
    for item in node.get("content") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "taskList":  # a nested task list sits beside the items
            out.extend(_task_list(item, indent + "  "))
            continue
        state = (item.get("attrs") or {}).get("state")
        mark = "x" if state == "DONE" else " "
        inline = [c for c in item.get("content") or [] if isinstance(c, dict) and c.get("type") != "taskList"]
        text = _inline(inline).split("\n")
        out.append(f"{indent}- [{mark}] {text[0]}".rstrip())
        out.extend(f"{indent}      {line}".rstrip() for line in text[1:])
        for nested in item.get("content") or []:
            if isinstance(nested, dict) and nested.get("type") == "taskList":
                out.extend(_task_list(nested, indent + "  "))
    return out


def _table(node: dict[str, Any], indent: str) -> list[str]:
    out: list[str] = []
    for row_index, row in enumerate(node.get("content") or []):
        if not isinstance(row, dict):
            continue
        cells = []
        header = True
        for cell in row.get("content") or []:
            if not isinstance(cell, dict):
                continue
            header = header and cell.get("type") == "tableHeader"
            text = " ".join(line for line in _blocks(cell.get("content") or [], "") if line)
            cells.append(text.replace("|", "\\|"))
        out.append(f"{indent}| " + " | ".join(cells) + " |")
        if row_index == 0:
            out.append(f"{indent}|" + "|".join(" --- " for _ in cells) + "|")
    return out


def _inline(nodes: list[Any]) -> str:
    parts: list[str] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        attrs = node.get("attrs") or {}
        if kind == "text":
            parts.append(_marked(str(node.get("text", "")), node.get("marks") or []))
        elif kind == "hardBreak":
            parts.append("\n")
        elif kind == "mention":
            text = str(attrs.get("text") or attrs.get("id") or "")
            parts.append(text if text.startswith("@") else f"@{text}")
        elif kind == "emoji":
            parts.append(str(attrs.get("text") or attrs.get("shortName") or ""))
        elif kind == "inlineCard":
            parts.append(f"<{attrs.get('url')}>" if attrs.get("url") else "")
        elif kind == "status":
            parts.append(str(attrs.get("text", "")))
        elif kind == "date":
            try:
                stamp = dt.datetime.fromtimestamp(int(str(attrs.get("timestamp"))) / 1000, tz=dt.UTC)
                parts.append(stamp.strftime("%Y-%m-%d"))
            except (TypeError, ValueError):
                pass
        elif node.get("content"):
            parts.append(_inline(node["content"]))
    return "".join(parts)


def _marked(text: str, marks: list[Any]) -> str:
    if not text:
        return ""
    kinds = {m.get("type"): m.get("attrs") or {} for m in marks if isinstance(m, dict)}
    if "code" in kinds:
        text = f"`{text}`"
    else:
        core = text.strip()
        if core and ("strong" in kinds or "em" in kinds or "strike" in kinds):
            lead = text[: len(text) - len(text.lstrip())]
            trail = text[len(text.rstrip()) :]
            if "strike" in kinds:
                core = f"~~{core}~~"
            if "em" in kinds:
                core = f"*{core}*"
            if "strong" in kinds:
                core = f"**{core}**"
            text = f"{lead}{core}{trail}"
    if "link" in kinds and kinds["link"].get("href"):
        href = kinds["link"]["href"]
        text = f"<{href}>" if text == href else f"[{text}]({href})"
    return text
