"""Markdown to ADF, wiki markup and plain text: what Nightshift writes to Jira (comments, follow-ups).

The markdown side is nightshift.markdown's tree (markdown-it-py tokens), the grammar readiness reads
too. Text reaches Jira only as text nodes (ADF) or escaped text (wiki): a backslash escape of the
publish guard (`\\[`, `\\/`) is literal text, a link keeps its target only for http(s) and mailto,
and HTML comments (markers) are dropped, since Jira would show them; Nightshift adds its markers in
each format's hidden form.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

from nightshift.markdown import Block, Run, inline_runs, parse, plain

__all__ = ["markdown_to_adf", "markdown_to_text", "markdown_to_wiki"]


def markdown_to_text(text: str) -> str:
    """One line of inline markdown as plain text (escapes resolved, marks dropped): Jira summaries."""
    return plain(inline_runs(" ".join(text.split())), breaks=" ")


def _visible(blocks: list[Block]) -> list[Block]:
    """Blocks without HTML comments (Jira would show them as text); other HTML reads as text."""
    out = []
    for block in blocks:
        if block.kind == "html":
            text = re.sub(r"<!--.*?-->", "", block.text, flags=re.DOTALL).strip("\n")
            if not text.strip():
                continue
            runs: list[Run] = []
            for index, line in enumerate(text.split("\n")):
                runs.extend([Run("\n")] * bool(index) + [Run(line)] * bool(line))
            block = Block("paragraph", runs=runs)
        out.append(block)
    return out


# --------------------------------------------------------------------------------------------------
# ADF
# --------------------------------------------------------------------------------------------------

#: What ADF allows inside a quote and a list item; anything else is degraded to these.
_QUOTE_CHILDREN = {"paragraph", "bulletList", "orderedList", "codeBlock"}


def markdown_to_adf(text: str) -> dict[str, Any]:
    """Markdown as an ADF document: paragraphs, headings, bullet, ordered and task lists (nested),
    code blocks, quotes, rules, tables, bold/italic/strike/code/links."""
    ids = itertools.count(1)
    return {"type": "doc", "version": 1, "content": _adf_blocks(_visible(parse(text or "")), ids)}


def _adf_blocks(blocks: list[Block], ids: Iterator[int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in blocks:
        out.extend(_adf_block(block, ids))
    return out


def _adf_block(block: Block, ids: Iterator[int]) -> list[dict[str, Any]]:
    if block.kind == "heading":
        return [{"type": "heading", "attrs": {"level": block.level}, "content": _adf_inline(block.runs)}]
    if block.kind == "paragraph":
        return [{"type": "paragraph", "content": _adf_inline(block.runs)}]
    if block.kind == "code":
        node: dict[str, Any] = {
            "type": "codeBlock",
            "content": [{"type": "text", "text": block.text}] if block.text else [],
        }
        if block.info:
            node["attrs"] = {"language": block.info}
        return [node]
    if block.kind == "quote":
        return [{"type": "blockquote", "content": _degrade(_adf_blocks(_visible(block.children), ids))}]
    if block.kind == "rule":
        return [{"type": "rule"}]
    if block.kind in ("bullet_list", "ordered_list"):
        return _adf_list(block, ids)
    if block.kind == "table":
        return [_adf_table(block)]
    return []


def _degrade(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nodes a quote cannot hold as ones it can: headings as paragraphs, task lists as bullets
    typed with boxes (read back as `- [x]`), tables as a paragraph per row, rules dropped."""
    out: list[dict[str, Any]] = []
    for node in nodes:
        kind = node["type"]
        if kind in _QUOTE_CHILDREN:
            out.append(node)
        elif kind == "heading":
            out.append({"type": "paragraph", "content": node["content"]})
        elif kind == "blockquote":
            out.extend(node["content"])
        elif kind == "taskList":
            out.append({"type": "bulletList", "content": [_task_as_item(item) for item in node["content"]]})
        elif kind == "table":
            for row in node["content"]:
                cells = [_text_of(cell) for cell in row["content"]]
                out.append({"type": "paragraph", "content": [{"type": "text", "text": " | ".join(cells)}]})
    return out


def _task_as_item(node: dict[str, Any]) -> dict[str, Any]:
    if node["type"] == "taskList":
        return {"type": "listItem", "content": _degrade([node])}
    box = "[x] " if node["attrs"]["state"] == "DONE" else "[ ] "
    return {
        "type": "listItem",
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": box}, *node["content"]]}],
    }


def _text_of(node: dict[str, Any]) -> str:
    if node.get("type") == "text":
        return str(node.get("text", ""))
    return "".join(_text_of(child) for child in node.get("content") or [])


def _adf_list(block: Block, ids: Iterator[int]) -> list[dict[str, Any]]:
    """Consecutive task items make a taskList, the others a bullet or ordered list.

    ADF nests only task lists inside task lists, so other lists under a task item follow its list.
    """
    result: list[dict[str, Any]] = []
    node: dict[str, Any] | None = None
    plain_kind = "orderedList" if block.kind == "ordered_list" else "bulletList"
    for item in block.children:
        kind = "taskList" if item.task is not None else plain_kind
        if node is None or node["type"] != kind:
            node = {"type": kind, "content": []}
            if kind == "taskList":
                node["attrs"] = {"localId": f"tasklist-{next(ids)}"}
            elif kind == "orderedList" and block.start != 1 and not result:
                node["attrs"] = {"order": block.start}
            result.append(node)
        first = item.children[0] if item.children and item.children[0].kind == "paragraph" else None
        rest = _visible(item.children[1:] if first is not None else item.children)
        nested = _adf_blocks(rest, ids)
        if kind == "taskList":
            node["content"].append(
                {
                    "type": "taskItem",
                    "attrs": {"localId": f"task-{next(ids)}", "state": "DONE" if item.task else "TODO"},
                    "content": _adf_inline(first.runs) if first is not None else [],
                }
            )
            for child in nested:
                if child["type"] == "taskList" and node is not None:
                    node["content"].append(child)
                else:
                    result.append(child)
                    node = None
        else:
            head = [{"type": "paragraph", "content": _adf_inline(first.runs) if first is not None else []}]
            node["content"].append({"type": "listItem", "content": head + _degrade(nested)})
    return result


def _adf_table(block: Block) -> dict[str, Any]:
    rows = []
    for index, cells in enumerate(block.rows):
        kind = "tableHeader" if index == 0 else "tableCell"
        rows.append(
            {
                "type": "tableRow",
                "content": [
                    {"type": kind, "content": [{"type": "paragraph", "content": _adf_inline(runs)}]}
                    for runs in cells
                ],
            }
        )
    return {"type": "table", "content": rows}


def _adf_inline(runs: list[Run]) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for run in runs:
        if run.is_break:
            nodes.append({"type": "hardBreak"})
            continue
        node: dict[str, Any] = {"type": "text", "text": run.text}
        marks: list[dict[str, Any]] = []
        if "code" in run.marks:  # ADF allows only a link beside code
            marks.append({"type": "code"})
        else:
            marks.extend({"type": m} for m in ("strong", "em", "strike") if m in run.marks)
        if run.href is not None:
            marks.append({"type": "link", "attrs": {"href": run.href}})
        if marks:
            node["marks"] = marks
        nodes.append(node)
    return nodes


# --------------------------------------------------------------------------------------------------
# Wiki markup
# --------------------------------------------------------------------------------------------------


def markdown_to_wiki(text: str) -> str:
    """Markdown as Jira wiki markup (for comments and tickets on Server/DC).

    Task items become `* (/) item` / `* (x) item` (wiki has no checkboxes, and `[x]` would be a link);
    `wiki_to_markdown` reads them back as `- [x]` / `- [ ]`.
    """
    return "\n".join(_wiki_blocks(_visible(parse(text or ""))))


def _wiki_blocks(blocks: list[Block], *, quoted: bool = False) -> list[str]:
    """Blocks separated by a blank line, except right after a heading."""
    out: list[str] = []
    previous: str | None = None
    for block in blocks:
        lines = _wiki_block(block, quoted)
        if not lines:
            continue
        if previous is not None and previous != "heading":
            out.append("")
        out.extend(lines)
        previous = block.kind
    return out


def _wiki_block(block: Block, quoted: bool) -> list[str]:
    if block.kind == "heading":
        return [f"h{block.level}. {_wiki_inline(block.runs, breaks=' ')}"]
    if block.kind == "paragraph":
        return _wiki_inline(block.runs).split("\n")
    if block.kind == "code" and quoted:
        # A quote holds text Nightshift did not write (publish.guard quotes it). {code} has no escapes,
        # so its code blocks are shown as escaped text lines: nothing in a quote reaches Jira unescaped.
        return [_wiki_escape(line) for line in block.text.split("\n")]
    if block.kind == "code":
        opening = "{code:" + block.info + "}" if block.info else "{code}"
        # Only `{code}` ends the block: a line of the body that says so is defused.
        body = (
            [re.sub(r"(?i)\{(code|noformat)", r"{ \1", line) for line in block.text.split("\n")]
            if block.text
            else []
        )
        return [opening, *body, "{code}"]
    if block.kind == "quote":
        return ["{quote}", *_wiki_blocks(_visible(block.children), quoted=True), "{quote}"]
    if block.kind == "rule":
        return ["----"]
    if block.kind in ("bullet_list", "ordered_list"):
        return _wiki_list(block, "", quoted)
    if block.kind == "table":
        return [
            ("||" if index == 0 else "|")
            + ("||" if index == 0 else "|").join(_wiki_inline(cell, breaks=" ") or " " for cell in cells)
            + ("||" if index == 0 else "|")
            for index, cells in enumerate(block.rows)
        ]
    return []


def _wiki_list(block: Block, markers: str, quoted: bool) -> list[str]:
    """`*` and `#` repeated by depth; an item's other blocks follow on lines of their own."""
    prefix = markers + ("#" if block.kind == "ordered_list" else "*")
    out: list[str] = []
    for item in block.children:
        box = "" if item.task is None else ("(/) " if item.task else "(x) ")
        first = item.children[0] if item.children and item.children[0].kind == "paragraph" else None
        out.append(f"{prefix} {box}{_wiki_inline(first.runs, breaks=' ') if first else ''}".rstrip())
        for child in _visible(item.children[1:] if first is not None else item.children):
            if child.kind in ("bullet_list", "ordered_list"):
                out.extend(_wiki_list(child, prefix, quoted))
            else:
                out.extend(_wiki_block(child, quoted))
    return out


#: Characters that start wiki markup Nightshift never writes from text: macros `{html}`, links and
#: mentions `[~user]`, images `!url!`, table cells `|`. A backslash makes them literal.
_WIKI_SPECIAL = re.compile(r"([{}\[\]!|])")


def _wiki_escape(text: str) -> str:
    """Plain text as wiki markup that renders as the same text (`\\` is a line break in wiki)."""
    return _WIKI_SPECIAL.sub(r"\\\1", text.replace("\\", "&#92;"))


_WIKI_WRAP = (("strike", "-"), ("em", "_"), ("strong", "*"))


def _wiki_inline(runs: list[Run], *, breaks: str = "\n") -> str:
    """Runs as wiki markup; consecutive runs of one link share one `[label|url]`."""
    parts = []
    for href, group in itertools.groupby(runs, key=lambda run: run.href):
        pieces = [_wiki_run(run, breaks) for run in group]
        label = "".join(pieces)
        if href is None:
            parts.append(label)
        elif label == _wiki_escape(href):
            parts.append(f"[{href}]")
        else:
            parts.append(f"[{label}|{href}]")
    return "".join(parts)


def _wiki_run(run: Run, breaks: str) -> str:
    if run.is_break:
        return breaks
    if "code" in run.marks:
        return "{{" + _wiki_escape(run.text) + "}}"
    piece = _wiki_escape(run.text)
    for mark, wrap in _WIKI_WRAP:
        if mark in run.marks:
            piece = f"{wrap}{piece}{wrap}"
    return piece
