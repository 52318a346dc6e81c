"""The one markdown grammar: markdown-it-py tokens as a small tree, for readiness and for conversion.

Readiness (sections, checklists, bullet items) and the Jira writers (markdown to ADF and wiki markup)
read markdown through `parse` here, so they cannot disagree about what is a heading, a list item or a
checkbox: a `#` line inside a code fence is neither a section nor an ADF heading; `## Title ##` and a
setext `Title` / `===` are both. The parser is CommonMark (markdown-it-py, already installed with
Airflow) with GitLab's tables and strikethrough; task items (`- [x] item`) are recognised here, as GFM
does, from the item's first text, so a backslash-escaped `\\[x\\]` (how the publish guard writes
brackets) stays literal text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from markdown_it import MarkdownIt
from markdown_it.common.utils import normalizeReference
from markdown_it.token import Token

__all__ = [
    "Block",
    "Item",
    "Run",
    "Section",
    "inline_runs",
    "is_safe_href",
    "items",
    "parse",
    "plain",
    "sections",
]

Mark = Literal["strong", "em", "code", "strike", "link"]


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    # Escapes stay `text_special` tokens, so `\\[x\\]` is not a task box; every href is kept, and the
    # writers decide which are safe to link (unsafe ones are shown as text, never dropped silently).
    md.disable("text_join")
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


_MD = _parser()
#: The same grammar without the inline pass: readiness reads item sources, not their marks.
_MD_BLOCKS = _parser().disable("inline")
#: Line ends as markdown-it normalises them: section lines are cut by its line numbers.
_NEWLINES = re.compile(r"\r\n?")


@dataclass(frozen=True)
class Run:
    """A stretch of inline text with the same marks; `text == "\\n"` with no marks is a line break."""

    text: str
    marks: frozenset[Mark] = frozenset()
    href: str | None = None

    @property
    def is_break(self) -> bool:
        return self.text == "\n" and not self.marks


@dataclass
class Block:
    """One block of the document.

    kind: heading, paragraph, bullet_list, ordered_list, item, code, quote, rule, table, html.
    Headings and paragraphs carry `runs`; lists, items and quotes carry `children`; an item's `task` is
    None (not a task), True (`[x]`) or False (`[ ]`); code and html carry `text`; a table carries
    `rows` of cells (each a list of runs), the first row being the header.
    """

    kind: str
    runs: list[Run] = field(default_factory=list)
    children: list[Block] = field(default_factory=list)
    level: int = 0
    start: int = 1
    task: bool | None = None
    info: str = ""
    text: str = ""
    source: str = ""
    rows: list[list[list[Run]]] = field(default_factory=list)
    lines: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Item:
    """A list item as readiness reads it: its first paragraph's markdown on one line, and its box."""

    text: str
    task: bool | None
    depth: int


@dataclass(frozen=True)
class Section:
    """The source lines under a top-level heading (up to the next one) and the list items in them."""

    title: str
    lines: tuple[str, ...]
    items: tuple[Item, ...]


def parse(markdown: str, *, inline: bool = True) -> list[Block]:
    """Markdown as a tree of blocks; HTML comments (Nightshift's markers) are kept as `html` blocks.

    `inline=False` skips the inline pass except for headings (readiness needs item sources, not their
    runs): the same block grammar and the same task rule, at about half the cost.
    """
    env: dict[str, Any] = {}
    tokens = (_MD if inline else _MD_BLOCKS).parse(_NEWLINES.sub("\n", markdown), env)
    return _Builder(env.get("references") or {}, inline).blocks(tokens, 0, None)[0]


def inline_runs(markdown: str) -> list[Run]:
    """One piece of inline markdown (no block structure) as runs."""
    tokens = _MD.parseInline(markdown)
    return _runs(tokens[0].children or []) if tokens else []


def plain(runs: list[Run], *, breaks: str = "\n") -> str:
    """The text of `runs` with marks dropped; unsafe link targets are already text."""
    return "".join(breaks if run.is_break else run.text for run in runs)


class _Builder:
    """markdown-it's flat tokens (open/close pairs) as the block tree."""

    def __init__(self, references: Mapping[str, Any], inline: bool) -> None:
        self.references = references
        self.inline = inline

    def runs(self, token: Token) -> list[Run]:
        return _runs(token.children or []) if self.inline else []

    def blocks(self, tokens: list[Token], i: int, closing: str | None) -> tuple[list[Block], int]:
        out: list[Block] = []
        while i < len(tokens):
            token = tokens[i]
            if closing is not None and token.type == closing:
                return out, i + 1
            lines = (token.map[0], token.map[1]) if token.map else (0, 0)
            kind = token.type
            if kind == "heading_open":
                inline = tokens[i + 1]
                runs = self.runs(inline) if self.inline else inline_runs(inline.content)
                out.append(Block("heading", runs=runs, level=int(token.tag[1:]), lines=lines))
                i += 3
            elif kind == "paragraph_open":
                inline = tokens[i + 1]
                out.append(Block("paragraph", runs=self.runs(inline), source=inline.content, lines=lines))
                i += 3
            elif kind in ("bullet_list_open", "ordered_list_open"):
                name = kind.removesuffix("_open")
                children, i = self.blocks(tokens, i + 1, f"{name}_close")
                start = int(token.attrs.get("start", 1) or 1) if name == "ordered_list" else 1
                out.append(Block(name, children=children, start=start, lines=lines))
            elif kind == "list_item_open":
                children, i = self.blocks(tokens, i + 1, "list_item_close")
                out.append(self.item(children, lines))
            elif kind == "blockquote_open":
                children, i = self.blocks(tokens, i + 1, "blockquote_close")
                out.append(Block("quote", children=children, lines=lines))
            elif kind == "table_open":
                block, i = self.table(tokens, i + 1, lines)
                out.append(block)
            elif kind in ("fence", "code_block"):
                info = token.info.strip().split()[0] if token.info.strip() else ""
                out.append(Block("code", text=token.content.removesuffix("\n"), info=info, lines=lines))
                i += 1
            elif kind == "hr":
                out.append(Block("rule", lines=lines))
                i += 1
            elif kind == "html_block":
                out.append(Block("html", text=token.content.rstrip("\n"), lines=lines))
                i += 1
            else:  # closing tokens of tight paragraphs and anything unknown
                i += 1
        return out, i

    def item(self, children: list[Block], lines: tuple[int, int]) -> Block:
        """A list item; `[ ] ` or `[x] ` starting its first paragraph's source makes it a task.

        The source decides, as GFM does: an escaped `\\[x\\]` reads as the same text but is no box, and
        neither is `[x]` when the document defines a link reference `x`.
        """
        first = children[0] if children and children[0].kind == "paragraph" else None
        head = first.source[:4] if first is not None else ""
        if first is None or head not in ("[ ] ", "[x] ", "[X] "):
            return Block("item", children=children, lines=lines)
        if head[1] != " " and normalizeReference(head[1]) in self.references:
            return Block("item", children=children, lines=lines)
        first.source = first.source[4:].lstrip(" ")
        if first.runs and first.runs[0].text.startswith(head) and not first.runs[0].marks:
            rest = first.runs[0].text[4:].lstrip(" ")
            first.runs[:1] = [Run(rest)] if rest else []
        return Block("item", children=children, task=head[1] in "xX", lines=lines)

    def table(self, tokens: list[Token], i: int, lines: tuple[int, int]) -> tuple[Block, int]:
        rows: list[list[list[Run]]] = []
        while tokens[i].type != "table_close":
            token = tokens[i]
            if token.type == "tr_open":
                rows.append([])
            elif token.type == "inline":
                rows[-1].append(self.runs(token))
            i += 1
        return Block("table", rows=rows, lines=lines), i + 1


_OPENS: dict[str, Mark] = {"strong_open": "strong", "em_open": "em", "s_open": "strike"}
_CLOSES: dict[str, Mark] = {"strong_close": "strong", "em_close": "em", "s_close": "strike"}


def _runs(children: list[Token]) -> list[Run]:
    """Inline tokens as runs: marks from open/close pairs, links only kept for http(s) and mailto."""
    runs: list[Run] = []
    marks: list[Mark] = []
    links: list[str | None] = []  # open links' targets, None for an unsafe one
    unsafe: list[str] = []

    def add(text: str, extra: tuple[Mark, ...] = ()) -> None:
        if not text:
            return
        current = frozenset([*marks, *extra])
        href = next((h for h in reversed(links) if h is not None), None) if "link" in current else None
        if runs and runs[-1].marks == current and runs[-1].href == href and not runs[-1].is_break:
            runs[-1] = Run(runs[-1].text + text, current, href)
        else:
            runs.append(Run(text, current, href))

    for token in children:
        kind = token.type
        if kind in ("text", "text_special"):
            add(token.content)
        elif kind == "code_inline":
            add(token.content, ("code",))
        elif kind in ("softbreak", "hardbreak"):
            runs.append(Run("\n"))
        elif kind in _OPENS:
            marks.append(_OPENS[kind])
        elif kind in _CLOSES:
            if _CLOSES[kind] in marks:
                marks.remove(_CLOSES[kind])
        elif kind == "link_open":
            href = str(token.attrs.get("href", ""))
            safe = is_safe_href(href)
            links.append(href if safe else None)
            if safe:
                marks.append("link")
            else:  # the label stays text, its target follows in brackets when the link closes
                unsafe.append(href)
        elif kind == "link_close" and links:
            if links.pop() is not None:
                marks.remove("link")
            else:
                add(f" ({unsafe.pop()})")
        elif kind == "image":
            src = str(token.attrs.get("src", ""))
            label = token.content or src
            if is_safe_href(src):
                links.append(src)
                add(label, ("link",))
                links.pop()
            else:
                add(f"{label} ({src})")
        elif kind == "html_inline":
            if not token.content.startswith("<!--"):  # comments are hidden; other tags read as text
                add(token.content)
    return runs


def is_safe_href(href: str) -> bool:
    """Link targets Nightshift writes as links: http(s) and mailto, with nothing wiki markup reads."""
    low = href.lower()
    return (
        low.startswith(("http://", "https://", "mailto:"))
        and not any(ch.isspace() or ch in "|[]{}" for ch in href)
        and len(href) > len("http://")
    )


# --------------------------------------------------------------------------------------------------
# Sections and items: what readiness reads
# --------------------------------------------------------------------------------------------------


def sections(markdown: str) -> Mapping[str, Section]:
    """Each top-level heading (title lower-cased, trailing ':' dropped; first one wins) and its content.

    Read-only and cached: intake asks one description for its checklist and three sections in a row,
    and parsing is the expensive part.
    """
    return _sections(markdown)


@functools.lru_cache(maxsize=64)
def _sections(markdown: str) -> Mapping[str, Section]:
    source = _NEWLINES.sub("\n", markdown)
    lines = source.split("\n")
    blocks = parse(source, inline=False)
    headings = [i for i, block in enumerate(blocks) if block.kind == "heading" and plain(block.runs).strip()]
    out: dict[str, Section] = {}
    for n, index in enumerate(headings):
        end_index = headings[n + 1] if n + 1 < len(headings) else len(blocks)
        start_line = blocks[index].lines[1]
        end_line = blocks[end_index].lines[0] if end_index < len(blocks) else len(lines)
        title = plain(blocks[index].runs, breaks=" ").strip().lower().rstrip(":")
        body = blocks[index + 1 : end_index]
        if title not in out:
            section_lines = lines[start_line:end_line]
            if end_index == len(blocks) and section_lines and section_lines[-1] == "":
                section_lines = section_lines[:-1]  # str.splitlines() drops the final newline
            out[title] = Section(title, tuple(section_lines), tuple(items(body)))
    return MappingProxyType(out)


def items(blocks: list[Block], depth: int = 0) -> list[Item]:
    """Every list item in `blocks`, nested ones after their parent, as one line of markdown each."""
    out: list[Item] = []
    for block in blocks:
        if block.kind in ("bullet_list", "ordered_list"):
            for item in block.children:
                first = item.children[0] if item.children else None
                text = (
                    " ".join(first.source.split()) if first is not None and first.kind == "paragraph" else ""
                )
                if text:
                    out.append(Item(text, item.task, depth))
                out.extend(items(item.children, depth + 1))
        elif block.kind == "quote":
            out.extend(items(block.children, depth))
    return out
