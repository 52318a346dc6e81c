"""Jira's two text formats (wiki markup on Server/DC, ADF on Cloud) to and from markdown.

Intake reads the spec's "## Agent Readiness" checklist and "Acceptance criteria" section from ticket
descriptions with one markdown grammar for Jira and GitLab alike (nightshift.markdown), so a checklist
written in wiki markup or in ADF must come out as exactly the spec's markdown (`## Agent Readiness` /
`- [x] ...`). Writing goes the other way: comments and follow-up tickets are composed in markdown,
parsed by the same grammar, and rendered as ADF or wiki markup.

* `markers`: Nightshift's hidden markers in each format.
* `adf_read`: ADF to markdown: a walk over ADF's JSON tree (it is typed already, no parser needed).
* `wiki_read`: wiki markup to markdown: a hand-written line reader.
* `write`: markdown (markdown-it-py tokens, via nightshift.markdown) to ADF, wiki markup and text.

What reaches Jira stays guarded (nightshift.publish.guard): text is written as ADF text nodes or as
escaped wiki text, a backslash escape stays literal, links keep only http(s)/mailto targets, HTML
comments are dropped, and inside a quote (where guarded, untrusted text lives) a code block is written
as escaped text, since wiki's {code} has no escapes.

Which wiki converter, and why (checked on PyPI, Nov 2026):

* `jira2markdown` 0.5.3 (MIT, maintained, pyparsing grammar) reads wiki into markdown only. On this
  module's own wiki cases it got 10 of 18 right: `(/)`/`(x)` boxes and `* [x]` stay as text (the
  readiness checklist would not be read), numbered lists all become `1.`, `{color}` becomes raw HTML
  `<font>`, `{code:title=a.py|language=python}` becomes Java, `{anchor}` markers stay visible, and
  `src/*.py` gains backslashes. It also adds pyparsing, which is not in constraints.txt.
* `md-to-jira` 1.0.4 (MIT) is about 250 lines of regular expressions both ways: what this replaces.
* `adf-bridge` 0.1.3 (alpha) converts markdown to ADF on mistune: a second markdown grammar, which is
  what this package exists to avoid.

So the markdown side is markdown-it-py for every direction, and the wiki reader stays hand-written,
tested on the forms Jira users type and on everything the writer produces.
"""

from __future__ import annotations

from nightshift.trackers.text.adf_read import adf_to_markdown, adf_to_text
from nightshift.trackers.text.markers import adf_marker, is_adf_marker, wiki_marker
from nightshift.trackers.text.wiki_read import wiki_to_markdown
from nightshift.trackers.text.write import markdown_to_adf, markdown_to_text, markdown_to_wiki

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


def to_markdown(text: str | None, description_format: str) -> str:
    """A tracker description in its own format (`TrackerIssue.description_format`) as markdown."""
    if not text:
        return ""
    if description_format == "adf":
        return adf_to_markdown(text)
    if description_format == "wiki":
        return wiki_to_markdown(text)
    return text
