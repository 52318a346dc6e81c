"""Build the ranking repository with real git: the base commit, each good change, and each defective
variant of it (the good change plus one defect, as one commit on the base, as an agent would push it)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from nightshift.models import Ticket
from tests.nightshift.gates.ranking.base_repo import FILES
from tests.nightshift.gates.ranking.changes import CHANGES, Change, Edit

State = dict[str, str]
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@shop.invalid",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@shop.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}
TOKEN = "glpat-x9Kd2mQ7vLp4Rt8Zw1Yb"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


def apply(state: State, edit: Edit) -> State:
    path, old, new = edit
    text = state[path]
    if old is None:
        text = text + new
    else:
        assert text.count(old) == 1, f"{path}: {old!r} is not unique"
        text = text.replace(old, new)
    return {**state, path: text}


def good_state(change: Change) -> State:
    state = dict(FILES)
    for edit in change.edits:
        state = apply(state, edit)
    return state


# ------------------------------------------------------------------------------------------ defects
def failing_tests(change: Change, state: State) -> State:
    return apply(state, change.bug)


def deleted_test(change: Change, state: State) -> State:
    chunks = state[change.test_file].split("\n\n\n")
    index = next(
        i
        for i, c in enumerate(chunks)
        if c.lstrip("@").startswith(("def test_", "pytest.mark"))
        or "\ndef test_" in c
        or c.startswith("def test_")
    )
    return {**state, change.test_file: "\n\n\n".join(chunks[:index] + chunks[index + 1 :])}


def skipped_test(change: Change, state: State) -> State:
    text = state[change.test_file]
    if "import pytest\n" not in text:
        text = text.replace(
            "from __future__ import annotations\n", "from __future__ import annotations\n\nimport pytest\n", 1
        )
    first = text.index("\ndef test_")
    text = text[:first] + '\n@pytest.mark.skip(reason="flaky on CI")' + text[first:]
    return {**state, change.test_file: text}


def shell_injection(change: Change, state: State) -> State:
    text = state[change.source].replace(
        "from __future__ import annotations\n", "from __future__ import annotations\n\nimport subprocess\n", 1
    )
    text += (
        (
            "\n\ndef open_in_editor(path: str) -> None:\n"
            '    """Open a file in the user\'s editor."""\n'
            '    subprocess.run(f"${EDITOR:-vi} {path}", shell=True, check=False)\n'
        )
        .replace("${EDITOR", "${{EDITOR")
        .replace(":-vi}", ":-vi}}")
    )
    return {**state, change.source: text}


def leaked_token(change: Change, state: State) -> State:
    text = state[change.source] + f'\n\n#: used by the nightly upload\nUPLOAD_TOKEN = "{TOKEN}"\n'
    return {**state, change.source: text}


def out_of_scope(change: Change, state: State) -> State:
    return apply(state, ("scripts/seed_data.py", "copies: int = 10", "copies: int = 25"))


def ci_change(change: Change, state: State) -> State:
    return apply(state, (".gitlab-ci.yml", "  stage: test\n", "  stage: test\n  allow_failure: true\n"))


def empty_change(change: Change, state: State) -> State:
    return dict(FILES)


#: Each defective variant and the flag that names its defect.
DEFECTS: dict[str, tuple[Callable[[Change, State], State], str]] = {
    "failing_tests": (failing_tests, "tests_failed"),
    "deleted_test": (deleted_test, "tests_removed"),
    "skipped_test": (skipped_test, "tests_removed"),
    "shell_injection": (shell_injection, "security"),
    "leaked_token": (leaked_token, "secret"),
    "out_of_scope": (out_of_scope, "out_of_scope"),
    "ci_change": (ci_change, "protected_path"),
    "empty_change": (empty_change, "empty_change"),
}


def ticket_of(change: Change) -> Ticket:
    return Ticket(
        id=change.ticket_id,
        title=change.title,
        description=change.description,
        acceptance_criteria=change.acceptance_criteria,
        estimated_files=change.estimated_files,
        repository="shop/inventory",
    )


def _commit(repo: Path, base: str, state: State, message: str) -> str:
    git(repo, "checkout", "-q", "-f", "--detach", base)
    git(repo, "clean", "-qfdx")
    for path in set(FILES) - set(state):
        (repo / path).unlink()
    for path, text in state.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def build(repo: Path) -> tuple[str, dict[tuple[str, str], str]]:
    """The base commit and {(ticket id, variant): commit}; variant "good" is the good change."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for path, text in FILES.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "inventory 0.3.0")
    base = git(repo, "rev-parse", "HEAD")
    commits: dict[tuple[str, str], str] = {}
    for change in CHANGES:
        good = good_state(change)
        commits[(change.ticket_id, "good")] = _commit(repo, base, good, f"{change.ticket_id}: {change.title}")
        for name, (defect, _flag) in DEFECTS.items():
            commits[(change.ticket_id, name)] = _commit(
                repo, base, defect(change, good), f"{change.ticket_id}: {change.title}"
            )
    git(repo, "checkout", "-q", "-f", "main")
    return base, commits
