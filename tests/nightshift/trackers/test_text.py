"""Jira text formats to markdown and back: the spec's readiness checklist must come out exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nightshift.readiness import find_sections
from nightshift.trackers.text import (
    adf_marker,
    adf_to_markdown,
    adf_to_text,
    is_adf_marker,
    markdown_to_adf,
    markdown_to_wiki,
    to_markdown,
    wiki_marker,
    wiki_to_markdown,
)

SPEC_CHECKLIST = """## Agent Readiness
- [x] Acceptance criteria clear
- [x] No open questions
- [x] Dependencies: None / PROJ-XXX completed
- [x] Estimated files: src/feature.py, tests/
- [x] Complexity: Small / Medium / Large"""

ITEMS = [
    "Acceptance criteria clear",
    "No open questions",
    "Dependencies: None / PROJ-XXX completed",
    "Estimated files: src/feature.py, tests/",
    "Complexity: Small / Medium / Large",
]


def text(value: str, *marks: str) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if marks:
        node["marks"] = [{"type": m} for m in marks]
    return node


def paragraph(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def doc(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(content)}


def heading(level: int, value: str) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": level}, "content": [text(value)]}


def task_list(states: list[str], items: list[str]) -> dict[str, Any]:
    return {
        "type": "taskList",
        "attrs": {"localId": "l"},
        "content": [
            {"type": "taskItem", "attrs": {"localId": f"t{i}", "state": state}, "content": [text(item)]}
            for i, (state, item) in enumerate(zip(states, items, strict=True))
        ],
    }


def bullets(*items: str) -> dict[str, Any]:
    return {
        "type": "bulletList",
        "content": [{"type": "listItem", "content": [paragraph(text(i))]} for i in items],
    }


# --- the readiness checklist, every way people write it ---------------------------------------------------


@pytest.mark.parametrize("bullet", ["*", "-"])
@pytest.mark.parametrize("box", ["[x]", "[X]", "(/)"])
def test_wiki_checklist_converts_to_the_spec(bullet: str, box: str) -> None:
    wiki = "h2. Agent Readiness\n" + "\n".join(f"{bullet} {box} {item}" for item in ITEMS)
    assert wiki_to_markdown(wiki) == SPEC_CHECKLIST


def test_wiki_unchecked_boxes() -> None:
    wiki = "h2. Agent Readiness\n* [ ] Acceptance criteria clear\n* [] No open questions\n* (x) Complexity: Small"
    assert wiki_to_markdown(wiki) == (
        "## Agent Readiness\n- [ ] Acceptance criteria clear\n- [ ] No open questions\n- [ ] Complexity: Small"
    )


def test_markdown_pasted_into_a_wiki_field_survives() -> None:
    """`## x` outside a numbered list is a markdown heading someone pasted; it stays a heading."""
    assert wiki_to_markdown(SPEC_CHECKLIST) == SPEC_CHECKLIST


def test_adf_task_list_converts_to_the_spec() -> None:
    adf = doc(heading(2, "Agent Readiness"), task_list(["DONE"] * 5, ITEMS))
    assert adf_to_markdown(adf) == SPEC_CHECKLIST
    assert adf_to_markdown(json.dumps(adf)) == SPEC_CHECKLIST  # TrackerIssue.description holds JSON text
    assert to_markdown(json.dumps(adf), "adf") == SPEC_CHECKLIST


def test_adf_todo_items_are_unchecked() -> None:
    adf = doc(heading(2, "Agent Readiness"), task_list(["DONE", "TODO"], ITEMS[:2]))
    assert (
        adf_to_markdown(adf) == "## Agent Readiness\n- [x] Acceptance criteria clear\n- [ ] No open questions"
    )


def test_adf_bullets_typed_with_brackets_also_convert() -> None:
    adf = doc(heading(2, "Agent Readiness"), bullets(*(f"[x] {item}" for item in ITEMS)))
    assert adf_to_markdown(adf) == SPEC_CHECKLIST


def test_sections_are_readable_by_the_readiness_parser() -> None:
    adf = doc(
        heading(2, "Agent Readiness"),
        task_list(["DONE"] * 5, ITEMS),
        heading(2, "Acceptance criteria"),
        bullets("Login returns a JWT", "Logout revokes it"),
        paragraph(text("Notes follow.")),
    )
    wiki = (
        "h2. Agent Readiness\n"
        + "\n".join(f"* [x] {i}" for i in ITEMS)
        + "\n\nh2. Acceptance criteria\n* Login returns a JWT\n* Logout revokes it\n\nNotes follow."
    )
    for markdown in (adf_to_markdown(adf), wiki_to_markdown(wiki)):
        sections = find_sections(markdown)
        assert sections["agent readiness"][:5] == [f"- [x] {i}" for i in ITEMS]
        assert [line for line in sections["acceptance criteria"] if line.startswith("- ")] == [
            "- Login returns a JWT",
            "- Logout revokes it",
        ]


# --- wiki markup -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wiki", "markdown"),
    [
        ("h1. Title", "# Title"),
        ("h6. Small", "###### Small"),
        ("Some *bold* and _italic_ text", "Some **bold** and _italic_ text"),
        ("Use {{make test}} here", "Use `make test` here"),
        ("See [the docs|https://example.com/docs]", "See [the docs](https://example.com/docs)"),
        ("See [https://example.com]", "See <https://example.com>"),
        ("Ask [~alice]", "Ask @alice"),
        ("* top\n** nested\n*** deeper", "- top\n  - nested\n    - deeper"),
        ("# one\n# two\n## two-a\n# three", "1. one\n2. two\n   1. two-a\n3. three"),
        ("bq. quoted", "> quoted"),
        ("----", "---"),
        ("||h1||h2||\n|a|b|", "| h1 | h2 |\n| --- | --- |\n| a | b |"),
        ("{code:python}\nx = *not bold*\n{code}", "```python\nx = *not bold*\n```"),
        ("{code:title=a.py|language=python}\nprint(1)\n{code}", "```python\nprint(1)\n```"),
        ("{noformat}raw *text*{noformat}", "```\nraw *text*\n```"),
        ("{quote}\nsaid\n{quote}", "> said"),
        ("text{anchor:top} {color:red}red{color}", "text red"),
        ("done\n\n{anchor:nightshift_3Akind_3Dx_3B_E2_9C_93}", "done\n\n<!-- nightshift:kind=x;\u2713 -->"),
        ("src/*.py and *.txt globs", "src/*.py and *.txt globs"),
        ("PROJ-142 -- done", "PROJ-142 -- done"),
    ],
)
def test_wiki_to_markdown(wiki: str, markdown: str) -> None:
    assert wiki_to_markdown(wiki) == markdown


def test_empty_inputs() -> None:
    assert wiki_to_markdown("") == "" and wiki_to_markdown(None) == ""
    assert adf_to_markdown(None) == "" and adf_to_markdown("") == "" and adf_to_markdown(doc()) == ""
    assert to_markdown("", "adf") == "" and to_markdown("plain", "markdown") == "plain"


# --- ADF -------------------------------------------------------------------------------------------------


def test_adf_inline_marks_links_and_nodes() -> None:
    adf = doc(
        paragraph(
            text("bold", "strong"),
            text(" "),
            text("it", "em"),
            text(" "),
            text("code", "code"),
            text(" "),
            {
                "type": "text",
                "text": "docs",
                "marks": [{"type": "link", "attrs": {"href": "https://x.test"}}],
            },
            text(" "),
            {"type": "mention", "attrs": {"id": "abc", "text": "@Alice"}},
            {"type": "hardBreak"},
            text("next line"),
        )
    )
    assert adf_to_markdown(adf) == "**bold** *it* `code` [docs](https://x.test) @Alice\nnext line"


def test_adf_blocks() -> None:
    adf = doc(
        heading(1, "Title"),
        paragraph(text("Intro.")),
        {
            "type": "orderedList",
            "attrs": {"order": 3},
            "content": [
                {"type": "listItem", "content": [paragraph(text("three")), bullets("nested")]},
                {"type": "listItem", "content": [paragraph(text("four"))]},
            ],
        },
        {"type": "codeBlock", "attrs": {"language": "python"}, "content": [text("print(1)\nprint(2)")]},
        {"type": "blockquote", "content": [paragraph(text("quoted"))]},
        {"type": "rule"},
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [paragraph(text("in a panel"))]},
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableHeader", "content": [paragraph(text("h"))]},
                        {"type": "tableHeader", "content": [paragraph(text("v"))]},
                    ],
                },
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableCell", "content": [paragraph(text("a"))]},
                        {"type": "tableCell", "content": [paragraph(text("b"))]},
                    ],
                },
            ],
        },
        {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "x"}}]},
    )
    assert adf_to_markdown(adf) == "\n".join(
        [
            "# Title",
            "Intro.",
            "",
            "3. three",
            "   - nested",
            "4. four",
            "",
            "```python",
            "print(1)",
            "print(2)",
            "```",
            "",
            "> quoted",
            "",
            "---",
            "",
            "in a panel",
            "",
            "| h | v |",
            "| --- | --- |",
            "| a | b |",
        ]
    )
    assert "print(2)" in adf_to_text(adf) and "**" not in adf_to_text(adf)


def test_nested_task_lists() -> None:
    adf = doc(
        {
            "type": "taskList",
            "attrs": {"localId": "a"},
            "content": [
                {"type": "taskItem", "attrs": {"localId": "1", "state": "TODO"}, "content": [text("parent")]},
                {
                    "type": "taskList",
                    "attrs": {"localId": "b"},
                    "content": [
                        {
                            "type": "taskItem",
                            "attrs": {"localId": "2", "state": "DONE"},
                            "content": [text("child")],
                        }
                    ],
                },
            ],
        }
    )
    assert adf_to_markdown(adf) == "- [ ] parent\n  - [x] child"


def test_adf_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(ValueError):
        adf_to_markdown("[1, 2]")


# --- markdown -> ADF / wiki (what Nightshift writes) -----------------------------------------------------


def test_markdown_to_adf_round_trips_the_checklist() -> None:
    adf = markdown_to_adf(SPEC_CHECKLIST)
    assert adf["type"] == "doc" and adf["version"] == 1
    assert [n["type"] for n in adf["content"]] == ["heading", "taskList"]
    assert {item["attrs"]["state"] for item in adf["content"][1]["content"]} == {"DONE"}
    assert adf_to_markdown(adf) == SPEC_CHECKLIST


def test_markdown_to_adf_structures() -> None:
    source = "# Title\n\nPara *em* and **strong** with `code` and [a](https://a.test).\nSecond line.\n\n- one\n  - inner\n- two\n\n1. first\n2. second\n\n```sh\nmake test\n```\n\n> quote\n\n---"
    adf = markdown_to_adf(source)
    assert [n["type"] for n in adf["content"]] == [
        "heading",
        "paragraph",
        "bulletList",
        "orderedList",
        "codeBlock",
        "blockquote",
        "rule",
    ]
    para = adf["content"][1]["content"]
    assert {"type": "text", "text": "em", "marks": [{"type": "em"}]} in para
    assert {"type": "hardBreak"} in para
    assert adf["content"][2]["content"][0]["content"][1]["type"] == "bulletList"  # nested under "one"
    assert all(n.get("text") != "" for n in json.loads(json.dumps(adf))["content"][1]["content"])
    assert adf_to_markdown(adf) == (
        "# Title\nPara *em* and **strong** with `code` and [a](https://a.test).\nSecond line.\n\n- one\n  - inner\n"
        "- two\n\n1. first\n2. second\n\n```sh\nmake test\n```\n\n> quote\n\n---"
    )


def test_markdown_to_wiki_round_trips() -> None:
    source = "## Not ready\n- [ ] Acceptance criteria clear\n- [x] No open questions\n  - detail\n- **bold** `code` [l](https://l.test)\n\n1. a\n2. b"
    wiki = markdown_to_wiki(source)
    assert wiki.splitlines()[:4] == [
        "h2. Not ready",
        "* (x) Acceptance criteria clear",
        "* (/) No open questions",
        "** detail",
    ]
    assert "*bold* {{code}} [l|https://l.test]" in wiki and "# a\n# b" in wiki
    assert wiki_to_markdown(wiki) == source


def test_markers_round_trip_as_hidden_comments() -> None:
    marker = "nightshift:batch=2024-01-15-overnight;ticket=PROJ-142;kind=not-ready"
    wiki = markdown_to_wiki("Not ready.") + "\n\n" + wiki_marker(marker)
    name = wiki_marker(marker).removeprefix("{anchor:").removesuffix("}")
    assert not set(name) & set(":=;|{}")  # the macro's own syntax stays intact
    assert wiki_to_markdown(wiki) == f"Not ready.\n\n<!-- {marker} -->"
    adf = markdown_to_adf("Not ready.")
    adf["content"].append(adf_marker(marker))
    assert is_adf_marker(adf["content"][-1]) and is_adf_marker(adf["content"][-1], marker)
    assert not is_adf_marker(adf["content"][0])
    assert adf_to_markdown(adf) == f"Not ready.\n\n<!-- {marker} -->"


def test_html_comments_are_not_posted_to_jira() -> None:
    """Jira would show them as text; Nightshift's markers go in each format's hidden form instead."""
    body = "Escalated.\n<!-- nightshift:batch=b;ticket=PROJ-1;kind=escalation -->"
    assert markdown_to_wiki(body) == "Escalated."
    assert adf_to_markdown(markdown_to_adf(body)) == "Escalated."


def test_writing_keeps_escapes_literal_and_drops_unsafe_links():
    md = "\\[~admin\\] \\/approve [x](javascript:alert(1)) [ok](https://example.com)"
    assert markdown_to_wiki(md) == "\\[~admin\\] /approve x (javascript:alert(1)) [ok|https://example.com]"
    doc = markdown_to_adf(md)
    hrefs = [m["attrs"]["href"] for n in doc["content"][0]["content"] for m in n.get("marks", [])]
    assert hrefs == ["https://example.com"]
    assert doc["content"][0]["content"][0]["text"].startswith("[~admin] /approve")


def test_a_code_block_cannot_close_itself_in_wiki():
    wiki = markdown_to_wiki("```\nx\n{code}\n{html}<b>y</b>{html}\n```")
    assert wiki.count("{code}") == 2 and "{ code}" in wiki
