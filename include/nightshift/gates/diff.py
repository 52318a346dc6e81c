"""What a merge request changes: base...head (from the merge base, as GitLab shows an MR), read with git.

Everything here reads git objects, never the files of a checkout, so a symlink in the change cannot make
the gates read outside the repository. Rename detection is off: a moved file is a deletion plus an
addition, which is what the test-change check must see.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nightshift.forge.git import GitError, hardened_config_args, hardened_env, locate, run_git

_DIFF_FLAGS = ["--no-renames", "--no-ext-diff", "--no-textconv", "--no-color", "--ignore-submodules=none"]
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
REGULAR_MODES = frozenset({"100644", "100755"})


def _git(args: list[str], repo: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The hardened git runner, reading the object store only (no work tree, attributes or hooks)."""
    return run_git(args, repo, objects_only=True, **kwargs)


class RevisionError(ValueError):
    """A revision the gates were asked to compare does not exist in the repository."""


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # A, M, D, T (type change)
    added: int
    removed: int
    binary: bool
    old_mode: str
    new_mode: str

    @property
    def deleted(self) -> bool:
        return self.status == "D"

    @property
    def regular_at_head(self) -> bool:
        """A plain file at the head (not deleted, not a symlink or submodule)."""
        return not self.deleted and self.new_mode in REGULAR_MODES


@dataclass
class Diff:
    base: str  # the merge base the change is measured from
    head: str
    files: list[FileChange] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    @property
    def lines_added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def lines_removed(self) -> int:
        return sum(f.removed for f in self.files)

    @property
    def empty(self) -> bool:
        return not self.files


def resolve(repo: Path, rev: str) -> str:
    """The full commit id of `rev`; RevisionError naming it when it is not a commit here."""
    if rev.startswith("-"):
        raise RevisionError(f"{rev!r} is not a revision")
    proc = _git(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], repo, check=False
    )
    if proc.returncode != 0:
        raise RevisionError(f"{rev!r} is not a commit in {repo}")
    return proc.stdout.strip()


def merge_base(repo: Path, base: str, head: str) -> str:
    proc = _git(["merge-base", base, head], repo, check=False)
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else base


def read_diff(repo: Path, base: str, head: str) -> Diff:
    """The files base...head changes, with line counts and modes."""
    base_sha, head_sha = resolve(repo, base), resolve(repo, head)
    mb = merge_base(repo, base_sha, head_sha)
    raw = _git(["diff", "--raw", "-z", *_DIFF_FLAGS, mb, head_sha], repo).stdout
    numstat = _git(["diff", "--numstat", "-z", *_DIFF_FLAGS, mb, head_sha], repo).stdout
    counts: dict[str, tuple[int, int, bool]] = {}
    for entry in numstat.split("\0"):
        if not entry:
            continue
        plus, minus, name = entry.split("\t", 2)
        binary = plus == "-"
        counts[name] = (0 if binary else int(plus), 0 if binary else int(minus), binary)
    files: list[FileChange] = []
    parts = raw.split("\0")
    i = 0
    while i < len(parts) - 1:
        meta = parts[i]
        if not meta.startswith(":"):
            i += 1
            continue
        path = parts[i + 1]
        old_mode, new_mode, _old, _new, status = meta[1:].split(" ", 4)
        added, removed, binary = counts.get(path, (0, 0, False))
        files.append(FileChange(path, status[:1], added, removed, binary, old_mode, new_mode))
        i += 2
    return Diff(base=mb, head=head_sha, files=files)


def show(repo: Path, rev: str, path: str, *, max_bytes: int = 5_000_000) -> bytes | None:
    """A file's content at `rev`; None when absent, not a regular file, or over max_bytes."""
    proc = _git(["ls-tree", "-z", "--full-tree", rev, "--", path], repo, check=False)
    entry = proc.stdout.split("\0")[0]
    if proc.returncode != 0 or not entry:
        return None
    meta, _, _name = entry.partition("\t")
    mode, kind, sha = meta.split(" ")
    if kind != "blob" or mode not in REGULAR_MODES:
        return None
    size = _git(["cat-file", "-s", sha], repo, check=False).stdout.strip()
    if not size.isdigit() or int(size) > max_bytes:
        return None
    with tempfile.TemporaryDirectory(prefix="nightshift-gates-git-") as empty:
        blob = subprocess.run(  # bytes, so not run_git (text); the same hardened environment
            ["git", *hardened_config_args(), "cat-file", "blob", sha],
            cwd=empty,
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env=hardened_env(locate(repo), empty_tree=Path(empty)),
        )
    return blob.stdout if blob.returncode == 0 else None


def show_text(repo: Path, rev: str, path: str) -> str | None:
    data = show(repo, rev, path)
    return None if data is None else data.decode("utf-8", errors="replace")


def export_tree(repo: Path, rev: str, dest: Path) -> Path:
    """Check `rev` out into `dest` through a private index: the repository, its index and its worktrees
    are untouched, and no .gitattributes `export-ignore` can hide a file (unlike git archive)."""
    dest.mkdir(parents=True, exist_ok=True)
    index = dest.parent / f".{dest.name}.index"
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        _git(["read-tree", resolve(repo, rev)], repo, env=env)
        _git(["checkout-index", "--all", "--force", f"--prefix={dest}/"], repo, env=env)
    finally:
        index.unlink(missing_ok=True)
    return dest


def write_files(repo: Path, rev: str, paths: list[str], dest: Path) -> list[str]:
    """Write the regular files among `paths` as they are at `rev` under `dest` (from git objects: a
    symlink in the change is never followed). Returns the paths written."""
    written = []
    for path in paths:
        data = show(repo, rev, path)
        if data is None:
            continue
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(path)
    return written


@dataclass
class LineChanges:
    """Added and removed lines per file: (line number, text); numbers at the head for added lines and at
    the base for removed ones."""

    added: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    removed: dict[str, list[tuple[int, str]]] = field(default_factory=dict)


def line_changes(repo: Path, diff: Diff, paths: list[str] | None = None) -> LineChanges:
    """The added and removed lines of text files (optionally only `paths`)."""
    out = LineChanges()
    wanted = [f.path for f in diff.files if not f.binary and (paths is None or f.path in paths)]
    if not wanted:
        return out
    # The whole diff when every file is wanted: thousands of paths would not fit on a command line.
    pathspec = [] if paths is None else ["--", *wanted]
    text = _git(
        ["-c", "core.quotepath=false", "diff", "-U0", *_DIFF_FLAGS, diff.base, diff.head, *pathspec],
        repo,
    ).stdout
    current: str | None = None
    old_name: str | None = None
    old_line = new_line = 0
    for line in text.splitlines():
        if line.startswith("diff --git "):
            current = old_name = None
        elif current is None and line.startswith("--- "):
            name = line[4:]
            old_name = _unquote(name)[2:] if name != "/dev/null" else None
        elif current is None and line.startswith("+++ "):
            name = line[4:]
            current = _unquote(name)[2:] if name != "/dev/null" else old_name
        elif line.startswith("@@"):
            match = _HUNK.match(line)
            if match:
                old_line, new_line = int(match.group(1)), int(match.group(3))
        elif current is not None and line.startswith("+"):
            out.added.setdefault(current, []).append((new_line, line[1:]))
            new_line += 1
        elif current is not None and line.startswith("-"):
            out.removed.setdefault(current, []).append((old_line, line[1:]))
            old_line += 1
    return out


def _unquote(name: str) -> str:
    """git C-quotes names with unusual characters ("a/t\\303\\251st.py")."""
    if not (name.startswith('"') and name.endswith('"')):
        return name
    raw = name[1:-1].encode("latin-1", errors="replace").decode("unicode_escape").encode("latin-1")
    return raw.decode("utf-8", errors="replace")


__all__ = [
    "Diff",
    "FileChange",
    "GitError",
    "LineChanges",
    "RevisionError",
    "export_tree",
    "line_changes",
    "read_diff",
    "resolve",
    "show",
    "show_text",
    "write_files",
]
