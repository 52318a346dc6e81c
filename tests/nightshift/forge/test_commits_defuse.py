"""Agent text in commit messages closes and references nothing on GitLab."""

from __future__ import annotations

import re

from nightshift.forge.commits import commit_message, defuse_references

# GitLab's default closing pattern, simplified to the reference forms it accepts.
_CLOSES = re.compile(
    r"\b(?:[Cc]los(?:e|es|ed|ing)|[Ff]ix(?:|es|ed|ing)|[Rr]esolv(?:e|es|ed|ing)|[Ii]mplement(?:s|ed|ing)?)"
    r":? +(?:[A-Za-z0-9_./-]*#\d+|https?://\S+/-/issues/\d+)"
)
_REFS = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z0-9_./-]*[#!&]\d")


def test_commit_message_defuses_closing_patterns_and_references() -> None:
    message = commit_message(
        "PROJ-7",
        "Fixes #12 and closes group/app#3",
        [
            "Resolves http://gitlab.local/group/app/-/issues/9",
            "see !4 and &5",
            "keeps PROJ-7 and C#-style text",
        ],
        "2026-01-05-overnight",
        partial=False,
    )
    assert not _CLOSES.search(message), message
    assert not _REFS.search(message), message
    assert "PROJ-7" in message and "Fixes # 12" in message  # still readable


def test_plain_text_is_untouched() -> None:
    text = "Add divide() with a zero check; issue-free text, email a@b.c, C# code"
    assert defuse_references(text) == text
