"""The text guard against two independent oracles: GitLab's quick-action extractor (as the stand-in
implements it) and a CommonMark parser (markdown-it) for what a reader's browser would render."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from nightshift.publish.guard import agent_list, agent_text, bullet_items, code, inline
from nightshift.trackers.text import markdown_to_adf, markdown_to_text, markdown_to_wiki
from standins.gitlab import extract_quick_actions

MD = MarkdownIt("commonmark")
MENTION = re.compile(r"(?<![A-Za-z0-9_])@[A-Za-z0-9_]|(?<![A-Za-z0-9_])[#!&][0-9]")
ATTACK = (
    "Done.\n/approve\n  /merge\n\t/ready\r/target_branch main\u2028/label ~ready-for-agent\x0b/close\n"
    "- item\n/unlabel ~nightshift\nping @all @group/sub and #12, !3, &4 [~admin] [~accountid:5b10a2]\n"
    "<!-- hidden --> <img src=x onerror=alert(1)> [x](javascript:alert(1)) ![p](http://evil/p.png)\n"
    "&#64;all <http://evil> {html}<b>x</b>{html} {noformat}\n\u200b/approve\n>>>\n/merge\n>>>\n"
    "`@kept in code` and ``` unmatched"
)


def rendered(markdown: str) -> list:
    """The inline tokens a CommonMark renderer produces, flattened."""
    out = []
    for token in MD.parse(markdown):
        out.append(token)
        out.extend(token.children or [])
    return out


def assert_inert(markdown: str) -> None:
    assert extract_quick_actions(markdown)[1] == []
    for token in rendered(markdown):
        assert token.type not in ("html_inline", "html_block", "link_open", "image"), token
        if token.type == "text":
            assert MENTION.search(token.content) is None, token.content
    wiki = markdown_to_wiki(markdown)
    assert re.search(r"(?<!\\)(\[~|\{html|\{noformat|!http)", wiki) is None, wiki


def test_attack_text_is_inert_and_quoted():
    block = agent_text(ATTACK)
    assert_inert(block)
    assert all(line.startswith(">") for line in block.splitlines())
    tops = [t.type for t in MD.parse(block) if t.level == 0]
    assert tops == ["blockquote_open", "blockquote_close"]


def test_it_still_reads_as_written():
    block = agent_text("Use `x@y` here.\n/approve please, @bob\n[a](b) <c> & d")
    html = MD.render(block)
    assert "/approve please, <code>@bob</code>" in html
    assert "<code>x@y</code>" in html and "[a](b) &lt;c&gt; &amp; d" in html


def test_list_items_and_inline_are_one_line():
    items = bullet_items(["first\n/approve", "", "second\r\n@all"])
    assert items == ["- first /approve", "- second `@all`"]
    assert "\n" not in inline(ATTACK)
    assert_inert(inline(ATTACK))
    assert_inert("\n".join(items))
    assert agent_list(["a", "/merge"], task=True) == "> - [ ] a\n> - [ ] \\/merge"
    assert agent_text("") == "" and agent_list([]) == ""


def test_a_line_starting_with_a_slash_gets_a_backslash():
    assert agent_text("/approve") == "> \\/approve"
    assert inline("  /merge now") == "\\/merge now"
    assert MD.render(agent_text("/approve")).strip() == "<blockquote>\n<p>/approve</p>\n</blockquote>"


def test_code_spans_hold_anything():
    assert code("src/a.py") == "`src/a.py`"
    span = code("a`b\n/approve")
    assert "\n" not in span and span.startswith("``")
    assert [t.type for t in rendered(span) if t.type != "inline"] == [
        "paragraph_open",
        "code_inline",
        "paragraph_close",
    ]


def test_long_text_is_cut():
    assert len(agent_text("x" * 50_000)) < 10_100
    assert inline("y" * 2000).endswith("(cut by Nightshift)")


def test_jira_variants_through_the_converter():
    md = "Nightshift words\n\n" + agent_text(ATTACK) + "\n\nmore words"
    wiki = markdown_to_wiki(md)
    assert "{quote}" in wiki and "[~" not in wiki.replace("\\[~", "")
    assert re.search(r"(?<!\\)\{(html|noformat)\}", wiki) is None
    assert re.search(r"(?<!\\)!http", wiki) is None
    doc = markdown_to_adf(md)
    kinds = [node["type"] for node in doc["content"]]
    assert kinds == ["paragraph", "blockquote", "paragraph"]
    texts = str(doc)
    assert "'href'" not in texts and "/approve" in texts and "\\/" not in texts
    assert markdown_to_text(inline("Follow-up: [x] /label ~a @all")) == "Follow-up: [x] /label ~a @all"


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("/@#!&<>[]`\\~{}*_- \n\r\t\u2028\u200bxyz0123:|.")) | st.characters(),
        max_size=120,
    )
)
def test_any_text_is_inert(text):
    assert_inert(agent_text(text))
    assert_inert(inline(text))
    assert_inert("\n".join(bullet_items(text.split("x"))))


def test_urls_are_not_links_and_close_nothing():
    line = inline("Fixes https://gitlab.example/group/app/-/issues/1 and www.evil.example, see group/app#2")
    assert line == (
        "Fixes `https://gitlab.example/group/app/-/issues/1` and `www.evil.example,` see `group/app#2`"
    )


def test_inline_fits_its_limit_after_escaping():
    for raw in ("@a " * 300, "<" * 600, "x" * 600):
        line = inline(raw, limit=200)
        assert len(line) <= 200
        assert_inert(line)
    assert inline("@a " * 300, limit=200).count("`") % 2 == 0


def test_emphasis_cannot_free_a_mention_or_a_reference():
    """`_@bob_` renders as <em>@bob</em>: the text node GitLab scans would start with a live mention."""
    for text in ("a _@bob_ b", "see _#12_ and _!3_", "__@all__", "x_@bob_y"):
        line = inline(text)
        assert_inert(line)
    html = MD.render(inline("a _@bob_ b"))
    assert "<em>" not in html and "_@bob_" in html  # read as written, inert
