"""test changes: did the change come with tests, and did it weaken the tests that were there?

- `no_tests`: code files changed, and no test file was added or changed.
- `tests_removed`: a test file deleted; a test of the base gone, or with fewer assertions; a skip or
  xfail marker added.
Python tests are followed by qualified name across all changed test files (parsed with ast, never run),
so a test moved between files is not a removal, and adding a new test does not hide deleting an old one.
Other languages: counts of test functions and assertions over the changed test files.
"""

from __future__ import annotations

import ast
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


def _is_assertion(node: ast.AST) -> bool:
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        return name.startswith("assert") or name in ("raises", "warns", "fail")
    return False


def python_tests(text: str | None) -> dict[str, tuple[int, int]] | None:
    """{qualified test name: (line, assertions)} of a Python test file; None when it does not parse."""
    if text is None:
        return {}
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return None
    found: dict[str, tuple[int, int]] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                count = sum(1 for n in ast.walk(node) if _is_assertion(n))
                found[prefix + node.name] = (node.lineno, count)

    visit(tree.body, "")
    return found


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
    base_py: dict[str, list[tuple[str, int, int]]] = {}  # test name -> [(file, line, assertions)] at base
    head_py: dict[str, list[int]] = {}  # test name -> [assertions] at the head
    for f in tests:
        old = show_text(ctx.repo, ctx.diff.base, f.path) if f.status != "A" else None
        new = None if f.deleted else show_text(ctx.repo, ctx.diff.head, f.path)
        old_tests = python_tests(old) if f.path.endswith(".py") else None
        new_tests = python_tests(new) if f.path.endswith(".py") else None
        if old_tests is not None and new_tests is not None:
            for name, (line, count) in old_tests.items():
                base_py.setdefault(name, []).append((f.path, line, count))
            for name, (_line, count) in new_tests.items():
                head_py.setdefault(name, []).append(count)
            before["defs"] += len(old_tests)
            after["defs"] += len(new_tests)
            before["asserts"] += sum(c for _l, c in old_tests.values())
            after["asserts"] += sum(c for _l, c in new_tests.values())
            continue
        before["defs"] += _count(old, _TEST_DEF)
        before["asserts"] += _count(old, _ASSERTION)
        after["defs"] += _count(new, _TEST_DEF)
        after["asserts"] += _count(new, _ASSERTION)
    deleted = {f.path for f in tests if f.deleted}  # already flagged as a whole file
    deleted_any = bool(deleted)
    # Python tests are followed by name (a test may move between files): a test of the base that is
    # gone, or that lost assertions, is a removal even when the change added other tests.
    for name, where in base_py.items():
        kept = head_py.get(name, [])
        gone = [w for w in where if w[0] not in deleted][len(kept) :]
        for path, line, _assertions in gone:
            flags.append(Flag(kind="tests_removed", file=path, line=line, message=f"test {name} removed"))
        if len(where) == 1 and len(kept) == 1 and kept[0] < where[0][2]:
            path, line, count = where[0]
            flags.append(
                Flag(
                    kind="tests_removed",
                    file=path,
                    line=line,
                    message=f"test {name}: assertions {count} -> {kept[0]}",
                )
            )
    if not base_py and not deleted_any:
        if after["defs"] < before["defs"]:
            removed = before["defs"] - after["defs"]
            flags.append(Flag(kind="tests_removed", message=f"{removed} test function(s) removed"))
        elif after["asserts"] < before["asserts"]:
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
