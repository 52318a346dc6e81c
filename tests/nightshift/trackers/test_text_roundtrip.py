"""Round trips through Jira's formats on tricky markdown: what Nightshift writes reads back the same.

"The same" is judged by the shared grammar (nightshift.markdown): block structure, text and marks,
not the exact spelling (`*em*` and `_em_` are one thing).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from nightshift.markdown import parse
from nightshift.publish.guard import agent_text
from nightshift.readiness import find_sections, section_items
from nightshift.trackers.text import adf_to_markdown, markdown_to_adf, markdown_to_wiki, wiki_to_markdown


def shape(markdown: str) -> Any:
    def blocks(items: Any) -> Any:
        return [
            (
                b.kind,
                b.level,
                b.task,
                b.start,
                [(r.text, sorted(r.marks), r.href) for r in b.runs],
                blocks(b.children),
                b.text,
                [[[(r.text, sorted(r.marks)) for r in cell] for cell in row] for row in b.rows],
            )
            for b in items
        ]

    return blocks(parse(markdown))


TRICKY = {
    "nested lists": "- one\n  - two\n    - three\n- four\n  1. a\n  2. b",
    "ordered with bullets": "1. first\n   - sub\n2. second",
    "nested tasks": "## Agent Readiness\n- [x] Acceptance criteria clear\n  - [ ] sub task\n- [ ] No open questions",
    "code fence with wiki markup": "```python\nh1. not a heading\n[~admin] {html}x{html} *b* {{m}}\n```",
    "table": "| a | b |\n| --- | --- |\n| 1 | `x` and **y** |",
    "links": "See [docs](https://example.com/a_b?x=1) and <https://x.test> and [mail](mailto:a@b.test)",
    "emphasis": "snake_case_name, **bold** and *em*, ***both***, ~~gone~~ and `co*de*`",
    "heading with closing hashes": "## Title ##\ntext",
    "CJK": "## 受け入れ基準\n- ログインできる **重要**\n- 中文测试 `代码`\n\n한국어 문단",
    "quote": "> quoted *words*\n> second line",
    "rule between paragraphs": "above\n\n---\n\nbelow",
}


@pytest.mark.parametrize("name", list(TRICKY))
def test_adf_round_trip(name: str) -> None:
    markdown = TRICKY[name]
    assert shape(adf_to_markdown(markdown_to_adf(markdown))) == shape(markdown)


@pytest.mark.parametrize("name", list(TRICKY))
def test_wiki_round_trip(name: str) -> None:
    markdown = TRICKY[name]
    assert shape(wiki_to_markdown(markdown_to_wiki(markdown))) == shape(markdown)


@pytest.mark.parametrize("name", list(TRICKY))
def test_readiness_reads_the_same_sections_after_either_round_trip(name: str) -> None:
    markdown = TRICKY[name]
    titles = list(find_sections(markdown))
    for back in (adf_to_markdown(markdown_to_adf(markdown)), wiki_to_markdown(markdown_to_wiki(markdown))):
        assert list(find_sections(back)) == titles
        for title in titles:
            assert section_items(back, title) == section_items(markdown, title)


def test_wiki_markup_in_a_code_fence_stays_code() -> None:
    wiki = markdown_to_wiki(TRICKY["code fence with wiki markup"])
    assert wiki.splitlines() == [
        "{code:python}",
        "h1. not a heading",
        "[~admin] {html}x{html} *b* {{m}}",
        "{code}",
    ]


def test_headings_with_trailing_hashes_lose_them() -> None:
    adf = markdown_to_adf("### Notes ###")
    assert adf["content"] == [
        {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": "Notes"}]}
    ]
    assert markdown_to_wiki("### Notes ###") == "h3. Notes"
    assert markdown_to_wiki("## C# and F# ##") == "h2. C# and F#"


def test_tables_become_tables() -> None:
    adf = markdown_to_adf(TRICKY["table"])
    assert [n["type"] for n in adf["content"]] == ["table"]
    header, row = adf["content"][0]["content"]
    assert [c["type"] for c in header["content"]] == ["tableHeader", "tableHeader"]
    assert row["content"][1]["content"][0]["content"][2] == {
        "type": "text",
        "text": "y",
        "marks": [{"type": "strong"}],
    }
    assert markdown_to_wiki(TRICKY["table"]) == "||a||b||\n|1|{{x}} and *y*|"
    assert markdown_to_wiki("| a |\n| --- |\n| x \\| y |") == "||a||\n|x \\| y|"


def test_emphasis_edge_cases() -> None:
    assert markdown_to_wiki("snake_case_name and 2 * 3 * 4") == "snake_case_name and 2 * 3 * 4"
    assert markdown_to_wiki("***both***") == "*_both_*"
    assert markdown_to_wiki("**unclosed and *half") == "**unclosed and *half"
    para = markdown_to_adf("`co*de*` and **b**")["content"][0]["content"]
    assert para[0] == {"type": "text", "text": "co*de*", "marks": [{"type": "code"}]}


def test_links_keep_only_safe_targets() -> None:
    assert (
        markdown_to_wiki("<https://x.test> [a *b*](https://y.test)")
        == "[https://x.test] [a _b_|https://y.test]"
    )
    assert markdown_to_wiki("[x](javascript:alert(1))") == "x (javascript:alert(1))"
    assert markdown_to_wiki("![p](http://evil.test/p.png)") == "[p|http://evil.test/p.png]"


def test_tasks_under_a_quote_degrade_to_boxes_in_adf() -> None:
    """ADF quotes cannot hold task lists or headings; they become bullets typed with boxes and paragraphs."""
    adf = markdown_to_adf("> ## Said\n> - [x] done\n> - [ ] todo")
    quote = adf["content"][0]
    assert [n["type"] for n in quote["content"]] == ["paragraph", "bulletList"]
    assert adf_to_markdown(adf) == "> Said\n>\n> - [x] done\n> - [ ] todo"


def test_wiki_quote_with_a_heading_stays_quoted() -> None:
    assert wiki_to_markdown("{quote}\nh2. Said\n* item\n{quote}\nafter") == "> ## Said\n> - item\nafter"
    assert find_sections(wiki_to_markdown("{quote}\nh2. Agent Readiness\n{quote}")) == {}


def test_cjk_sections_and_emphasis() -> None:
    markdown = TRICKY["CJK"]
    assert section_items(markdown, "受け入れ基準") == ["ログインできる **重要**", "中文测试 `代码`"]
    wiki = markdown_to_wiki(markdown)
    assert "h2. 受け入れ基準" in wiki and "* ログインできる *重要*" in wiki and "{{代码}}" in wiki


def test_code_blocks_in_quoted_agent_text_are_escaped_text_in_wiki() -> None:
    """Indented or `~~~`-fenced agent text is a code block in markdown; {code} cannot escape, so in a quote
    (where the publish guard puts untrusted text) its lines stay escaped text."""
    guarded = agent_text("    [~admin] {html}<b>x</b>{html}\n~~~\nsee http://e.test/[~a]{noformat}\n~~~")
    wiki = markdown_to_wiki(guarded)
    assert "{code" not in wiki
    assert re.search(r"(?<!\\)(\[~|\{html|\{noformat)", wiki) is None, wiki
    quote = markdown_to_adf(guarded)["content"][0]
    assert quote["type"] == "blockquote" and "codeBlock" in [n["type"] for n in quote["content"]]
