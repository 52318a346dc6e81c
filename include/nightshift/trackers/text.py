"""Jira's two text formats (wiki markup on Server/DC, ADF on Cloud) to and from markdown.

Intake reads the spec's "## Agent Readiness" checklist and "Acceptance criteria" section from ticket
descriptions with one markdown parser for Jira and GitLab alike, so a checklist written in wiki markup
or in ADF must come out as exactly the spec's markdown (`## Agent Readiness` / `- [x] ...`).
Writing goes the other way: comments and follow-up tickets are composed in markdown and converted.

The converters cover what tickets use (headings, lists, task lists, code, bold/italic, links,
quotes, simple tables); anything else degrades to its plain text rather than failing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

__all__ = [
    "adf_marker",
    "adf_to_markdown",
    "adf_to_text",
    "is_adf_marker",
    "markdown_to_adf",
    "markdown_to_text",
    "markdown_to_wiki",
    "to_markdown",
    "wiki_marker",
    "wiki_to_markdown",
]

# --------------------------------------------------------------------------------------------------
# Nightshift's markers: how an idempotent comment is found again, hidden in each format
# --------------------------------------------------------------------------------------------------

_MARKER_COLOR = "#97a0af"
_WIKI_MARKER_RE = re.compile(r"\{anchor:(nightshift_3A[A-Za-z0-9_-]*)\}")


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


def _unescape_anchor(name: str) -> str:
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


def _hidden(marker: str) -> str:
    return f"<!-- {marker} -->"


# --------------------------------------------------------------------------------------------------
# ADF -> markdown
# --------------------------------------------------------------------------------------------------


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
            return [f"{indent}{_hidden(str(content[0]['text']))}"]
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


# --------------------------------------------------------------------------------------------------
# wiki markup -> markdown
# --------------------------------------------------------------------------------------------------

_WIKI_HEADING = re.compile(r"^\s*h([1-6])\.\s+(.*)$")
_WIKI_LIST = re.compile(r"^\s*([*#-]+)\s+(.*)$")
_WIKI_CODE_OPEN = re.compile(r"^\s*\{(code|noformat)(?::([^}]*))?\}(.*)$")
_WIKI_CHECKBOX = re.compile(r"^(?:\[(?P<box>[ xX]?)\]|\((?P<icon>/|x)\))\s+(?P<rest>.*)$")
_WIKI_BQ = re.compile(r"^\s*bq\.\s+(.*)$")
_WIKI_TABLE = re.compile(r"^\s*\|\|?.*\|\s*$")


def wiki_to_markdown(text: str | None) -> str:
    """Render Jira wiki markup (Server/DC descriptions and comments) as markdown.

    Checklists come out in the spec's form: `* [x] item`, `- [x] item` and `* (/) item` become
    `- [x] item`; `[ ]`, `[]` and `(x)` become `- [ ] item`.
    """
    if not text:
        return ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    counters: dict[int, int] = {}
    previous_list_depth = 0  # depth of the list item on the previous line (0: not a list line)
    in_quote = False
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        code = _WIKI_CODE_OPEN.match(line)
        if code:
            i = _wiki_code(code, lines, i, out)
            previous_list_depth = 0
            continue
        stripped = line.strip()
        if stripped in ("{quote}",) or (stripped.startswith("{quote}") and stripped.endswith("{quote}")):
            if stripped != "{quote}" and len(stripped) > len("{quote}{quote}"):
                out.append("> " + _wiki_inline(stripped[7:-7]))
            else:
                in_quote = not in_quote
            previous_list_depth = 0
            continue
        if re.fullmatch(r"\{panel(?::[^}]*)?\}|\{panel\}", stripped):
            continue
        heading = _WIKI_HEADING.match(line)
        listed = _WIKI_LIST.match(line)
        if listed and set(listed.group(1)) == {"-"} and len(listed.group(1)) > 1:
            listed = None  # '--' and '---' are dashes, '----' a rule
        if listed and set(listed.group(1)) == {"#"} and len(listed.group(1)) > 1 and previous_list_depth == 0:
            # `## Title` outside a numbered list is a markdown heading pasted into Jira: keep it.
            listed = None
        if stripped == "----":
            out.append("---")
            previous_list_depth = 0
        elif heading:
            out.append(f"{'#' * int(heading.group(1))} {_wiki_inline(heading.group(2).strip())}".rstrip())
            previous_list_depth = 0
        elif listed:
            markers, rest = listed.group(1), listed.group(2)
            depth = len(markers)
            for deeper in [d for d in counters if d > depth]:
                del counters[deeper]
            indent = "".join("  " if m in "*-" else "   " for m in markers[:-1])
            if markers[-1] == "#":
                counters[depth] = counters.get(depth, 0) + 1
                bullet = f"{counters[depth]}. "
            else:
                counters.pop(depth, None)
                bullet = "- "
            out.append(f"{indent}{bullet}{_wiki_item(rest)}".rstrip())
            previous_list_depth = depth
        elif _WIKI_CHECKBOX.match(stripped):
            out.append(f"- {_wiki_item(stripped)}".rstrip())
            previous_list_depth = 1
        elif (bq := _WIKI_BQ.match(line)) is not None:
            out.append(f"> {_wiki_inline(bq.group(1))}".rstrip())
            previous_list_depth = 0
        elif _WIKI_TABLE.match(line):
            out.extend(_wiki_table_row(line, out))
            previous_list_depth = 0
        else:
            converted = _wiki_inline(line).rstrip()
            out.append(f"> {converted}".rstrip() if in_quote else converted)
            if not stripped:
                counters.clear()
            previous_list_depth = 0
    return "\n".join(out).strip("\n")


def _wiki_code(opening: re.Match[str], lines: list[str], i: int, out: list[str]) -> int:
    """Emit a fenced block for {code}/{noformat}; return the index after its closing tag."""
    tag, params, rest = opening.group(1), opening.group(2) or "", opening.group(3)
    language = ""
    for param in params.split("|"):
        key, _, value = param.partition("=")
        if not value and key and tag == "code" and "=" not in param:
            language = key.strip()
        elif key.strip() == "language":
            language = value.strip()
    out.append(f"```{language}")
    closing = "{" + tag + "}"
    body: list[str] = []
    if rest:
        if closing in rest:
            body.append(rest.split(closing, 1)[0])
            out.extend(line for line in body if line)
            out.append("```")
            return i
        body.append(rest)
    while i < len(lines):
        line = lines[i]
        i += 1
        if closing in line:
            before = line.split(closing, 1)[0]
            if before:
                body.append(before)
            break
        body.append(line)
    out.extend(body)
    out.append("```")
    return i


def _wiki_item(rest: str) -> str:
    box = _WIKI_CHECKBOX.match(rest.strip())
    if box:
        done = (box.group("box") or "").lower() == "x" or box.group("icon") == "/"
        return f"[{'x' if done else ' '}] {_wiki_inline(box.group('rest'))}"
    return _wiki_inline(rest)


def _wiki_table_row(line: str, out: list[str]) -> list[str]:
    header = line.strip().startswith("||")
    cells = [c.strip() for c in re.split(r"\|\|?", line.strip().strip("|"))]
    row = "| " + " | ".join(_wiki_inline(c) for c in cells) + " |"
    if header:
        return [row, "|" + "|".join(" --- " for _ in cells) + "|"]
    return [row]


_PLACEHOLDER = "\x00{}\x00"


def _wiki_inline(text: str) -> str:
    """Inline wiki markup: {{mono}}, [text|url], [url], [~user], *bold*, {color}/{anchor} tags."""
    kept: list[str] = []

    def keep(value: str) -> str:
        kept.append(value)
        return _PLACEHOLDER.format(len(kept) - 1)

    text = _WIKI_MARKER_RE.sub(lambda m: keep(_hidden(_unescape_anchor(m.group(1)))), text)
    text = re.sub(r"\{anchor(?::[^}]*)?\}", "", text)
    text = re.sub(r"\{color(?::[^}]*)?\}", "", text)
    text = re.sub(r"\{\{(.+?)\}\}", lambda m: keep(f"`{m.group(1)}`"), text)

    def link(m: re.Match[str]) -> str:
        inner = m.group(1)
        if inner.startswith("~"):
            return keep(f"@{inner[1:]}")
        label, sep, target = inner.rpartition("|")
        if sep:
            return keep(f"[{label}]({target.strip()})")
        if re.match(r"(?:https?|mailto|ftp):", inner):
            return keep(f"<{inner}>")
        return keep(m.group(0))

    text = re.sub(r"(?<!\\)\[([^\[\]\n]+)\]", link, text)
    text = re.sub(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])", r"**\1**", text)
    text = text.replace("\\\\", "\n")
    for index, value in enumerate(kept):
        text = text.replace(_PLACEHOLDER.format(index), value)
    return text


# --------------------------------------------------------------------------------------------------
# markdown -> ADF / wiki (what Nightshift writes: comments and follow-up tickets)
# --------------------------------------------------------------------------------------------------

_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_ITEM = re.compile(r"^(?P<indent>\s*)(?P<bullet>[-*+]|\d+[.)])\s+(?P<text>.*)$")
_MD_TASK = re.compile(r"^\[(?P<mark>[ xX])\]\s+(?P<text>.*)$")
_MD_FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)\s*$")
_MD_RULE = re.compile(r"^\s{0,3}(?:-{3,}|\*{3,}|_{3,})\s*$")


def _md_blocks(text: str) -> list[tuple[str, Any]]:
    """Split markdown into ('heading', (level, text)), ('list', items), ('code', (lang, text)),
    ('quote', lines), ('rule', None) and ('para', lines); items are (indent, ordered, task, text)."""
    # Jira shows HTML comments as text; Nightshift's own markers are added in each format's hidden form.
    text = re.sub(r"(?<!\\)<!--.*?-->", "", text, flags=re.DOTALL)
    lines = text.replace("\r\n", "\n").split("\n")
    blocks: list[tuple[str, Any]] = []
    para: list[str] = []
    i = 0
    blank = False  # a blank line ends a list

    def flush() -> None:
        if para:
            blocks.append(("para", list(para)))
            para.clear()

    while i < len(lines):
        line = lines[i]
        fence = _MD_FENCE.match(line)
        if fence:
            flush()
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence.group(1)):
                body.append(lines[i])
                i += 1
            i += 1
            blocks.append(("code", (fence.group(2), "\n".join(body))))
            continue
        i += 1
        if not line.strip():
            flush()
            blank = True
            continue
        after_blank, blank = blank, False
        if (heading := _MD_HEADING.match(line)) is not None:
            flush()
            blocks.append(("heading", (len(heading.group(1)), heading.group(2))))
        elif _MD_RULE.match(line):
            flush()
            blocks.append(("rule", None))
        elif (item := _MD_ITEM.match(line)) is not None:
            flush()
            indent = len(item.group("indent").expandtabs(4))
            ordered = item.group("bullet")[0].isdigit()
            task = _MD_TASK.match(item.group("text"))
            entry = (
                indent,
                ordered,
                (task.group("mark").lower() == "x") if task else None,
                task.group("text") if task else item.group("text"),
            )
            if blocks and blocks[-1][0] == "list" and not para and not after_blank:
                blocks[-1][1].append(entry)
            else:
                blocks.append(("list", [entry]))
        elif line.lstrip().startswith(">"):
            flush()
            quoted = re.sub(r"^\s*>\s?", "", line)
            if blocks and blocks[-1][0] == "quote":
                blocks[-1][1].append(quoted)
            else:
                blocks.append(("quote", [quoted]))
        else:
            para.append(line.strip())
    flush()
    return blocks


_MD_ESCAPABLE = r"!-/:-@\[-`{-~"  # CommonMark: every ASCII punctuation character can be escaped
_SAFE_HREF = re.compile(r"\A(?:https?://|mailto:)[^\s|\]\[{}]+\Z", re.IGNORECASE)


def _md_inline_tokens(text: str) -> list[tuple[str, str, str | None]]:
    """Split inline markdown into (text, mark, href) runs; mark is '', 'strong', 'em', 'code' or 'link'.

    A backslash escape (`\\[`, `\\/`, ...) is literal text: guarded text (nightshift.publish.guard)
    relies on it. Links keep their target only for http(s) and mailto; others stay text.
    """
    pattern = re.compile(
        rf"\\(?P<esc>[{_MD_ESCAPABLE}])|(?<!`)(?P<fence>`+)(?!`)(?P<code>.+?)(?<!`)(?P=fence)(?!`)"
        r"|\[(?P<label>[^\]]+)\]\((?P<href>[^)\s]+)\)|\*\*(?P<strong>.+?)\*\*"
        r"|(?<![\w*])\*(?P<em>[^*\s](?:[^*]*[^*\s])?)\*(?![\w*])|(?<![\w_])_(?P<em2>[^_\s](?:[^_]*[^_\s])?)_(?![\w_])"
    )
    runs: list[tuple[str, str, str | None]] = []
    pos = 0

    def plain(value: str) -> None:
        if runs and runs[-1][1] == "":
            runs[-1] = (runs[-1][0] + value, "", None)
        else:
            runs.append((value, "", None))

    for m in pattern.finditer(text):
        if m.start() > pos:
            plain(text[pos : m.start()])
        if m.group("esc") is not None:
            plain(m.group("esc"))
        elif m.group("code") is not None:
            body = m.group("code")
            if len(body) > 2 and body.startswith(" ") and body.endswith(" ") and body.strip():
                body = body[1:-1]
            runs.append((body, "code", None))
        elif m.group("label") is not None:
            href = m.group("href")
            if _SAFE_HREF.match(href):
                runs.append((m.group("label"), "link", href))
            else:
                plain(f"{m.group('label')} ({href})")
        elif m.group("strong") is not None:
            runs.append((m.group("strong"), "strong", None))
        else:
            runs.append((m.group("em") or m.group("em2"), "em", None))
        pos = m.end()
    if pos < len(text):
        plain(text[pos:])
    return [r for r in runs if r[0]]


def markdown_to_text(text: str) -> str:
    """One line of inline markdown as plain text (escapes resolved, marks dropped): Jira summaries."""
    return "".join(run for run, _, _ in _md_inline_tokens(" ".join(text.split())))


def _adf_inline(text: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for run, mark, href in _md_inline_tokens(text):
        node: dict[str, Any] = {"type": "text", "text": run}
        if mark == "link":
            node["marks"] = [{"type": "link", "attrs": {"href": href}}]
        elif mark:
            node["marks"] = [{"type": mark}]
        nodes.append(node)
    return nodes


def _adf_lines(lines: list[str]) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        if index:
            content.append({"type": "hardBreak"})
        content.extend(_adf_inline(line))
    return content


def markdown_to_adf(text: str) -> dict[str, Any]:
    """A simple markdown subset as an ADF document: paragraphs, headings, bullet, ordered and task
    lists (nested by indentation), code blocks, quotes, rules, bold/italic/code/links."""
    content: list[dict[str, Any]] = []
    task_ids = iter(range(1, 1_000_000))
    for kind, value in _md_blocks(text or ""):
        if kind == "heading":
            level, title = value
            content.append({"type": "heading", "attrs": {"level": level}, "content": _adf_inline(title)})
        elif kind == "para":
            content.append({"type": "paragraph", "content": _adf_lines(value)})
        elif kind == "code":
            language, code = value
            node: dict[str, Any] = {
                "type": "codeBlock",
                "content": [{"type": "text", "text": code}] if code else [],
            }
            if language:
                node["attrs"] = {"language": language}
            content.append(node)
        elif kind == "quote":
            content.append(
                {"type": "blockquote", "content": [{"type": "paragraph", "content": _adf_lines(value)}]}
            )
        elif kind == "rule":
            content.append({"type": "rule"})
        elif kind == "list":
            content.extend(_adf_list(value, task_ids))
    return {"type": "doc", "version": 1, "content": content}


def _adf_list(items: list[tuple[int, bool, bool | None, str]], task_ids: Any) -> list[dict[str, Any]]:
    """Group the least-indented items into lists; deeper items nest under the item before them.

    ADF nests only task lists inside task lists, so other lists under a task item follow its task list.
    """
    base = min(item[0] for item in items)
    groups: list[tuple[tuple[int, bool, bool | None, str], list[tuple[int, bool, bool | None, str]]]] = []
    for item in items:
        if item[0] <= base or not groups:
            groups.append((item, []))
        else:
            groups[-1][1].append(item)
    result: list[dict[str, Any]] = []
    node: dict[str, Any] | None = None
    for (_, ordered, task, text), children in groups:
        kind = "taskList" if task is not None else ("orderedList" if ordered else "bulletList")
        if node is None or node["type"] != kind:
            node = {"type": kind, "content": []}
            if kind == "taskList":
                node["attrs"] = {"localId": f"tasklist-{next(task_ids)}"}
            result.append(node)
        nested = _adf_list(children, task_ids) if children else []
        if kind == "taskList":
            node["content"].append(
                {
                    "type": "taskItem",
                    "attrs": {"localId": f"task-{next(task_ids)}", "state": "DONE" if task else "TODO"},
                    "content": _adf_inline(text),
                }
            )
            for child in nested:
                if child["type"] == "taskList" and node is not None:
                    node["content"].append(child)
                else:
                    result.append(child)
                    node = None
        else:
            node["content"].append(
                {
                    "type": "listItem",
                    "content": [{"type": "paragraph", "content": _adf_inline(text)}, *nested],
                }
            )
    return result


def markdown_to_wiki(text: str) -> str:
    """A simple markdown subset as Jira wiki markup (for comments and tickets on Server/DC).

    Task items become `* (/) item` / `* (x) item` (wiki has no checkboxes, and `[x]` would be a link);
    `wiki_to_markdown` reads them back as `- [x]` / `- [ ]`.
    """
    out: list[str] = []
    previous = None
    for kind, value in _md_blocks(text or ""):
        if out and previous != "heading":
            out.append("")
        previous = kind
        if kind == "heading":
            level, title = value
            out.append(f"h{level}. {_wiki_from_inline(title)}")
        elif kind == "para":
            out.extend(_wiki_from_inline(line) for line in value)
        elif kind == "code":
            language, code = value
            out.append("{code:" + language + "}" if language else "{code}")
            # Only `{code}` ends the block: a line of the body that says so is defused.
            out.extend(re.sub(r"(?i)\{(code|noformat)", r"{ \1", line) for line in code.split("\n") if code)
            out.append("{code}")
        elif kind == "quote":
            out.append("{quote}")
            out.extend(_wiki_from_inline(line) for line in value)
            out.append("{quote}")
        elif kind == "rule":
            out.append("----")
        elif kind == "list":
            levels: list[int] = []
            markers: list[str] = []
            for indent, ordered, task, item in value:
                while levels and indent < levels[-1]:
                    levels.pop()
                    markers.pop()
                if not levels or indent > levels[-1]:
                    levels.append(indent)
                    markers.append("#" if ordered else "*")
                else:
                    markers[-1] = "#" if ordered else "*"
                box = "" if task is None else ("(/) " if task else "(x) ")
                out.append(f"{''.join(markers)} {box}{_wiki_from_inline(item)}")
    return "\n".join(out)


#: Characters that start wiki markup Nightshift never writes from text: macros `{html}`, links and
#: mentions `[~user]`, images `!url!`, table cells `|`. A backslash makes them literal.
_WIKI_SPECIAL = re.compile(r"([{}\[\]!|])")


def _wiki_escape(text: str) -> str:
    """Plain text as wiki markup that renders as the same text (`\\` is a line break in wiki)."""
    return _WIKI_SPECIAL.sub(r"\\\1", text.replace("\\", "&#92;"))


def _wiki_from_inline(text: str) -> str:
    parts = []
    for run, mark, href in _md_inline_tokens(text):
        if mark == "code":
            parts.append("{{" + _wiki_escape(run) + "}}")
        elif mark == "link":
            parts.append(f"[{_wiki_escape(run)}|{href}]")
        elif mark == "strong":
            parts.append(f"*{_wiki_escape(run)}*")
        elif mark == "em":
            parts.append(f"_{_wiki_escape(run)}_")
        else:
            parts.append(_wiki_escape(run))
    return "".join(parts)


def to_markdown(text: str | None, description_format: str) -> str:
    """A tracker description in its own format (`TrackerIssue.description_format`) as markdown."""
    if not text:
        return ""
    if description_format == "adf":
        return adf_to_markdown(text)
    if description_format == "wiki":
        return wiki_to_markdown(text)
    return text
