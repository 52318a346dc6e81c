"""The one markdown grammar: readiness and the Jira writers see the same headings, items and boxes."""

from __future__ import annotations

from typing import Any

import pytest

from nightshift.markdown import Run, inline_runs, parse, sections
from nightshift.readiness import find_sections, parse_checklist, section_items
from nightshift.trackers.text import markdown_to_adf, markdown_to_wiki, wiki_to_markdown


def adf_headings(markdown: str) -> list[str]:
    return [
        "".join(t["text"] for t in node["content"])
        for node in markdown_to_adf(markdown)["content"]
        if node["type"] == "heading"
    ]


def adf_tasks(markdown: str) -> list[tuple[str, bool]]:
    out = []
    for node in markdown_to_adf(markdown)["content"]:
        if node["type"] == "taskList":
            for item in node["content"]:
                out.append(("".join(t["text"] for t in item["content"]), item["attrs"]["state"] == "DONE"))
    return out


SHARED_CASES = {
    "a heading inside a code fence is neither": (
        "## Acceptance criteria\n- real\n\n```md\n## Agent Readiness\n- [x] Acceptance criteria clear\n```\n",
        ["acceptance criteria"],
    ),
    "ATX headings with closing hashes": (
        "## Agent Readiness ##\n- [x] No open questions\n",
        ["agent readiness"],
    ),
    "setext headings": ("Agent Readiness\n===============\n- [ ] No open questions\n", ["agent readiness"]),
    "emphasis in a heading is not part of its title": (
        "## **Acceptance criteria:**\n- it works\n",
        ["acceptance criteria"],
    ),
    "a quoted heading is not a section": ("> ## Agent Readiness\n> - [x] No open questions\n", []),
    "CJK titles": ("## 受け入れ基準\n- ログインできる\n", ["受け入れ基準"]),
}


@pytest.mark.parametrize("case", list(SHARED_CASES))
def test_readiness_and_adf_see_the_same_headings(case: str) -> None:
    markdown, titles = SHARED_CASES[case]
    assert list(find_sections(markdown)) == titles
    assert [h.lower().rstrip(":") for h in adf_headings(markdown)] == titles
    # Written as wiki markup and read back, the sections are the same.
    assert list(find_sections(wiki_to_markdown(markdown_to_wiki(markdown)))) == titles


@pytest.mark.parametrize(
    ("markdown", "tasks"),
    [
        ("- [x] done\n- [ ] todo\n- [X] upper", [("done", True), ("todo", False), ("upper", True)]),
        ("- \\[x\\] escaped by the guard", []),  # the publish guard's escape keeps brackets literal
        ("- [x]no space", []),
        ("- `[x]` in code", []),
        ("```\n- [x] in a fence\n```", []),
        ("1. [x] ordered tasks count too", [("ordered tasks count too", True)]),
    ],
)
def test_readiness_and_adf_see_the_same_boxes(markdown: str, tasks: list[tuple[str, bool]]) -> None:
    checklist_section = "## Agent Readiness\n" + markdown
    items = sections(checklist_section)["agent readiness"].items
    assert [(i.text, i.task) for i in items if i.task is not None] == tasks
    assert adf_tasks(markdown) == tasks
    wiki = markdown_to_wiki(markdown)
    assert wiki.count("(/)") + wiki.count("(x)") == len(tasks)


def test_checklist_boxes_come_from_task_items_only() -> None:
    checklist = parse_checklist(
        "## Agent Readiness\n- \\[x\\] Acceptance criteria clear\n- [ ] No open questions\n\n"
        "```\n- [x] Acceptance criteria clear\n```\n"
    )
    assert checklist.present and checklist.acceptance_criteria_clear is None
    assert checklist.no_open_questions is False


def test_section_items_read_whole_items_and_skip_code() -> None:
    markdown = (
        "## Acceptance criteria\n- `make test` passes\n  and keeps passing\n- second\n  - nested\n\n"
        "```\n- not an item\n```\n\n## Other\n- x\n"
    )
    assert section_items(markdown, "acceptance criteria") == [
        "`make test` passes and keeps passing",
        "second",
        "nested",
    ]
    assert find_sections(markdown)["acceptance criteria"][0] == "- `make test` passes"


def test_sections_keep_their_source_lines() -> None:
    markdown = "intro\n\n## A\nline 1\n\n- item\n## B\n"
    assert find_sections(markdown) == {"a": ["line 1", "", "- item"], "b": []}


def test_inline_runs_marks_escapes_and_links() -> None:
    runs = inline_runs("**b** *e* ~~s~~ `c` \\*lit\\* [l](https://x.test) [j](javascript:alert(1))")
    assert Run("b", frozenset({"strong"})) in runs
    assert Run("e", frozenset({"em"})) in runs
    assert Run("s", frozenset({"strike"})) in runs
    assert Run("c", frozenset({"code"})) in runs
    assert Run("l", frozenset({"link"}), "https://x.test") in runs
    text = "".join(r.text for r in runs if not r.marks)
    assert "*lit*" in text and "j (javascript:alert(1))" in text


def test_html_comments_are_blocks_of_their_own() -> None:
    blocks = parse("Done.\n<!-- nightshift:kind=x -->\n")
    assert [b.kind for b in blocks] == ["paragraph", "html"]
    assert blocks[1].text == "<!-- nightshift:kind=x -->"


def shape(blocks: Any) -> Any:
    """Structure and text of a parsed document, without source positions."""
    return [
        (
            b.kind,
            b.level,
            b.task,
            [(r.text, sorted(r.marks), r.href) for r in b.runs],
            shape(b.children),
            b.text,
            [[[(r.text, sorted(r.marks)) for r in cell] for cell in row] for row in b.rows],
        )
        for b in blocks
    ]


def test_crlf_reads_like_lf() -> None:
    assert shape(parse("## T\r\n- [x] a\r\n")) == shape(parse("## T\n- [x] a\n"))


def test_old_mac_line_ends_keep_section_lines_aligned() -> None:
    assert find_sections("## A\rline\r## B\rother") == {"a": ["line"], "b": ["other"]}


def test_a_defined_link_reference_is_no_box() -> None:
    markdown = "## Agent Readiness\n- [x] Acceptance criteria clear\n\n[x]: https://example.com\n"
    assert parse_checklist(markdown).acceptance_criteria_clear is None
    assert adf_tasks("- [x] Acceptance criteria clear\n\n[x]: https://example.com") == []


@pytest.mark.parametrize("markdown", [c[0] for c in SHARED_CASES.values()] + ["- [x] a\n  - [ ] b\n1. [X] c"])
def test_the_block_only_pass_reads_the_same_items(markdown: str) -> None:
    """Readiness parses without the inline pass; conversion with it: same blocks, same boxes."""

    def skeleton(blocks: Any) -> Any:
        return [(b.kind, b.task, b.source, b.lines, skeleton(b.children)) for b in blocks]

    assert skeleton(parse(markdown, inline=False)) == skeleton(parse(markdown))
