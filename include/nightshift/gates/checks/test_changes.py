"""test changes: did the change come with tests, and did it weaken the tests that were there?

- `no_tests`: code files changed, and no test file was added or changed.
- `tests_removed`: a test file deleted; fewer test functions or assertions in the changed test files
  than at the base; a skip or xfail marker added.
Counts are taken over all changed test files together, so moving a test between files is not a removal.
"""

from __future__ import annotations

import re

from nightshift.gates.checks import CheckContext, CheckOutcome, flagged
from nightshift.gates.diff import show_text
from nightshift.gates.report import Flag

NAME = "test_changes"

_TEST_DEF = re.compile(
    r"^\s*(?:async\s+)?def\s+test\w*\s*\(|^\s*func\s+Test\w+\(|^\s*(?:it|test)\s*\(\s*['\"`]|@Test\b"
)
_ASSERTION = re.compile(
    r"\bassert\b|\bself\.assert\w+\(|\bpytest\.raises\(|\bexpect\(|\bassert[A-Z]\w*\(|\bt\.(?:Error|Fatal)f?\("
)
_SKIP = re.compile(
    r"@pytest\.mark\.(?:skip|skipif|xfail)\b|\bpytest\.(?:skip|xfail)\(|@unittest\.(?:skip\w*|expectedFailure)\b"
    r"|\b(?:it|describe|test)\.(?:skip|todo)\(|\bx(?:it|describe)\(|\bt\.Skip(?:f|Now)?\(|@Disabled\b|@Ignore\b"
)


def _count(text: str | None, pattern: re.Pattern[str]) -> int:
    if not text:
        return 0
    return sum(1 for line in text.splitlines() if pattern.search(_code_part(line)))


def _code_part(line: str) -> str:
    """The line without a trailing # comment (a crude cut, enough to ignore commented-out asserts)."""
    stripped = line.lstrip()
    return "" if stripped.startswith(("#", "//")) else line


def check_test_changes(ctx: CheckContext) -> CheckOutcome:
    files = ctx.diff.files
    tests = [f for f in files if ctx.is_test(f.path)]
    code = [f for f in files if not f.deleted and ctx.is_code(f.path)]
    flags: list[Flag] = []

    for f in tests:
        if f.deleted:
            flags.append(Flag(kind="tests_removed", file=f.path, message="test file deleted"))

    before = {"defs": 0, "asserts": 0}
    after = {"defs": 0, "asserts": 0}
    for f in tests:
        old = show_text(ctx.repo, ctx.diff.base, f.path) if f.status != "A" else None
        new = None if f.deleted else show_text(ctx.repo, ctx.diff.head, f.path)
        before["defs"] += _count(old, _TEST_DEF)
        before["asserts"] += _count(old, _ASSERTION)
        after["defs"] += _count(new, _TEST_DEF)
        after["asserts"] += _count(new, _ASSERTION)
    deleted_any = any(f.deleted for f in tests)
    if after["defs"] < before["defs"] and not deleted_any:
        removed = _removed_defs(ctx, [f.path for f in tests])
        flags.append(
            Flag(
                kind="tests_removed",
                file=removed[0][0] if removed else None,
                line=removed[0][1] if removed else None,
                message=f"{before['defs'] - after['defs']} test function(s) removed",
            )
        )
    elif after["asserts"] < before["asserts"] and not deleted_any:
        flags.append(
            Flag(
                kind="tests_removed",
                message=f"assertions in the changed tests: {before['asserts']} -> {after['asserts']}",
            )
        )
    for path, lines in ctx.lines.added.items():
        if not ctx.is_test(path):
            continue
        for number, text in lines:
            if _SKIP.search(_code_part(text)):
                flags.append(
                    Flag(
                        kind="tests_removed",
                        file=path,
                        line=number,
                        message=f"skip/xfail added: {text.strip()[:120]}",
                    )
                )

    if code and not tests:
        flags.append(
            Flag(
                kind="no_tests",
                file=code[0].path,
                message=f"{len(code)} code file(s) changed and no test added or changed",
            )
        )
    details: dict[str, int | float | str | bool | None] = {
        "code_files": len(code),
        "test_files": len(tests),
        "test_functions_before": before["defs"],
        "test_functions_after": after["defs"],
        "assertions_before": before["asserts"],
        "assertions_after": after["asserts"],
    }
    if flags:
        reason = "; ".join(dict.fromkeys(f.message for f in flags))[:300]
    elif not code:
        reason = "no code changed"
    else:
        reason = f"{len(tests)} test file(s) changed with {len(code)} code file(s)"
    return flagged(NAME, flags, reason, **details)


def _removed_defs(ctx: CheckContext, paths: list[str]) -> list[tuple[str, int]]:
    """Where test functions disappeared (file, line at the base)."""
    return [
        (path, number)
        for path, lines in ctx.lines.removed.items()
        if path in paths
        for number, text in lines
        if _TEST_DEF.search(text)
    ]
