"""Disk for N concurrent agent worktrees (one bare mirror, N `git worktree`s) against N full clones.

Target: below 1. A worktree shares the mirror's objects, so N tickets cost one history plus N
checkouts; N clones cost N histories plus N checkouts. How far below 1 depends on the history's size
against the checkout's: the synthetic upstream here (200 files, 20 commits, a small history that
compresses well) is the unfavourable case; a repository with years of history gains much more. Disk
is measured with `du` over each whole layout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmarks._harness import Case, Result, Settings, check, size
from benchmarks.sandbox import GIT_ENV
from nightshift.agents.workspace import WorkspaceManager

TARGET = 1.0


def _git(cwd: Path, *args: str) -> None:
    git = shutil.which("git") or "git"
    subprocess.run([git, *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **GIT_ENV})


def _origin(root: Path, files: int, commits: int) -> Path:
    """A repository with `files` source files of ~4 KiB and `commits` commits that each touch a tenth."""
    repo = root / "origin"
    (repo / "src").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    for c in range(commits):
        for f in range(files):
            if c == 0 or f % 10 == c % 10:
                body = "".join(f"def f_{f}_{c}_{line}():\n    return {line}\n" for line in range(120))
                (repo / "src" / f"m{f}.py").write_text(body)
        _git(repo, "add", ".")
        _git(repo, "commit", "-q", "-m", f"change {c}")
    return repo


def _du_kib(*paths: Path) -> int:
    """Apparent disk use in KiB of the paths together (`du -sk -c`: hard links counted once)."""
    out = subprocess.run(["du", "-sk", "-c", *map(str, paths)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1].split()[0])


def bench_worktrees(settings: Settings) -> Iterator[Result]:
    n = settings.size(10, 3)
    with tempfile.TemporaryDirectory(prefix="nightshift-bench-disk-") as tmp:
        root = Path(tmp)
        origin = _origin(root, files=settings.size(200, 40), commits=settings.size(20, 5))
        url = f"file://{origin}"
        manager = WorkspaceManager(root / "work", min_free_mb=1)
        for i in range(1, n + 1):
            manager.create(url, f"DISK-{i}", "main", batch_id="2024-01-15-overnight")
        clones = root / "clones"
        clones.mkdir()
        for i in range(1, n + 1):
            # --no-local: a real copy of the history, as a clone from the forge would be.
            _git(clones, "clone", "-q", "--no-local", url, f"clone-{i}")
        worktrees = _du_kib(root / "work")
        full = _du_kib(clones)
        check(len(manager.list_worktrees()) == n, "the worktrees were not all created")
    ratio = worktrees / full
    yield Result(
        "worktree_disk_ratio",
        f"{ratio:.2f}: {n} worktrees + mirror {size(worktrees * 1024)}, {n} full clones {size(full * 1024)}",
        f"< {TARGET:g}",
        ratio < TARGET,
        figure=round(ratio, 3),
    )


CASES = [Case("workspace.disk", bench_worktrees)]
