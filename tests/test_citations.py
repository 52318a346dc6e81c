"""Citations of the threat model point inside the repository, at facts that exist.

The code and the tests cite "docs/security-and-reliability.md, fact N" (or "security fact N"); the
README says that document is the one in docs/. A citation of a copy outside the repository, or of a
fact the document does not number, would send a reader nowhere.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "security-and-reliability.md"
TREES = ("include", "plugins", "dags", "tests", "benchmarks")
_FACT = re.compile(r"\bfacts? (\d+)\b")
_NUMBERED = re.compile(r"^(\d+)\. ", re.MULTILINE)
#: The document's name with whatever path comes before it (a docstring may wrap it after "and-").
_DOC_NAME = re.compile(r"(\S*)security-and-(?:\s*\n\s*)?reliability\.md")


def _sources() -> list[Path]:
    return [REPO / "README.md"] + [
        path for tree in TREES for path in sorted((REPO / tree).rglob("*.py")) if path != Path(__file__)
    ]


def test_the_threat_model_is_inside_the_repository():
    assert DOC.is_file()
    outside = [
        f"{path.relative_to(REPO)}: {match.group(0)!r}"
        for path in _sources()
        for match in _DOC_NAME.finditer(path.read_text())
        if match.group(1).lstrip("`(\"'") != "docs/"
    ]
    assert outside == []


def test_every_cited_fact_is_numbered_in_the_document():
    facts = {int(n) for n in _NUMBERED.findall(DOC.read_text())}
    assert facts == set(range(1, len(facts) + 1)) and len(facts) >= 13
    cited = {
        (str(path.relative_to(REPO)), int(n)) for path in _sources() for n in _FACT.findall(path.read_text())
    }
    assert cited, "the check found no citation at all"
    assert sorted((where, n) for where, n in cited if n not in facts) == []
