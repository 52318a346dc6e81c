"""Jira wiki markup (Server/DC descriptions and comments) to markdown: a line-by-line reader.

Hand-written on purpose (see nightshift.trackers.text for the converters that were evaluated): it
reads what tickets use and degrades anything else to its plain text, and it reads the forms Nightshift
writes back exactly (`* (/) item` boxes, `{anchor:nightshift_...}` markers).
"""

from __future__ import annotations

import re

from nightshift.trackers.text.markers import WIKI_MARKER_RE, hidden, unescape_anchor

__all__ = ["wiki_to_markdown"]

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
    quote_start = 0  # where the open {quote} began in `out`: its lines are quoted when it closes
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
                if in_quote:
                    quote_start = len(out)
                else:
                    _quote(out, quote_start)
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
            out.append(_wiki_inline(line).rstrip())
            if not stripped:
                counters.clear()
            previous_list_depth = 0
    if in_quote:
        _quote(out, quote_start)
    return "\n".join(out).strip("\n")


def _quote(out: list[str], start: int) -> None:
    """Everything a {quote} held, headings and lists too, as a markdown quote."""
    out[start:] = [f"> {line}".rstrip() for line in out[start:]]


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
    """Inline wiki markup: {{mono}}, [text|url], [url], [~user], *bold*, -strike-, {color}/{anchor} tags."""
    kept: list[str] = []

    def keep(value: str) -> str:
        kept.append(value)
        return _PLACEHOLDER.format(len(kept) - 1)

    text = WIKI_MARKER_RE.sub(lambda m: keep(hidden(unescape_anchor(m.group(1)))), text)
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
    text = re.sub(r"(?<![\w-])-(?=[^\s-])([^-\n]+?)(?<=\S)-(?![\w-])", r"~~\1~~", text)
    text = text.replace("\\\\", "\n")
    for index, value in enumerate(kept):
        text = text.replace(_PLACEHOLDER.format(index), value)
    return text
