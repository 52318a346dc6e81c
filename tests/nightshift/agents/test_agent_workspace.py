"""Worktrees: layout, idempotency, id validation, disk threshold, cleanup, credentials."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nightshift.agents.workspace import DiskSpaceError, WorkspaceError, WorkspaceManager, split_credentials
from tests.nightshift.agents.agent_helpers import git

MALICIOUS_IDS = [
    "PROJ-1$(id)",
    "-upload-pack=evil",
    "PROJ-١٢",
    "PROJ-1\u202e",
    "P" * 300 + "-1",
    "../PROJ-1",
    "PROJ-1/../../x",
    "proj-1",
    "PROJ-1 ",
    "PROJ-1\n",
    "",
]


def test_create_makes_a_worktree_on_the_agent_branch(workspaces, origin):
    path = workspaces.create(str(origin), "PROJ-142", "main", batch_id="2024-01-15-overnight")
    assert path == workspaces.root / "worktrees" / "2024-01-15-overnight" / "PROJ-142"
    assert git(path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "agent/PROJ-142"
    assert git(path, "rev-parse", "HEAD") == git(origin, "rev-parse", "main")
    assert (path / ".git").is_file() and (path / "src/utils.py").is_file()
    mirrors = list((workspaces.root / "mirrors").glob("*.git"))
    assert len(mirrors) == 1
    assert git(mirrors[0], "config", "remote.origin.url").strip() == str(origin)


def test_create_is_idempotent_and_resets(workspaces, origin):
    first = workspaces.create(str(origin), "PROJ-1", "main", batch_id="b1")
    (first / "src/utils.py").write_text("broken\n")
    (first / "junk.txt").write_text("x")
    again = workspaces.create(str(origin), "PROJ-1", "main", batch_id="b1")
    assert again == first
    assert git(again, "status", "--porcelain") == ""
    (again / "keep.txt").write_text("partial work")
    kept = workspaces.create(str(origin), "PROJ-1", "main", batch_id="b1", reset=False)
    assert (kept / "keep.txt").read_text() == "partial work"
    assert len(workspaces.list_worktrees("b1")) == 1


def test_new_upstream_commits_are_fetched(tmp_path, origin):
    manager = WorkspaceManager(tmp_path / "root", min_free_mb=1, fetch_ttl_seconds=0)
    manager.create(str(origin), "PROJ-1", "main", batch_id="b1")
    (origin / "NEW.md").write_text("new\n")
    git(origin, "add", "NEW.md")
    git(origin, "commit", "-q", "-m", "new")
    try:
        path = manager.create(str(origin), "PROJ-2", "main", batch_id="b1")
        assert (path / "NEW.md").is_file()
    finally:
        git(origin, "reset", "-q", "--hard", "HEAD~1")


def test_same_ticket_in_a_later_batch_takes_over_the_branch(workspaces, origin):
    old = workspaces.create(str(origin), "PROJ-1", "main", batch_id="b1")
    new = workspaces.create(str(origin), "PROJ-1", "main", batch_id="b2")
    assert not old.exists() and new.is_dir()
    assert git(new, "rev-parse", "--abbrev-ref", "HEAD").strip() == "agent/PROJ-1"


@pytest.mark.parametrize("bad", MALICIOUS_IDS)
def test_malicious_ticket_ids_are_rejected_before_any_path_or_git_call(workspaces, origin, bad):
    with pytest.raises(ValueError):
        workspaces.create(str(origin), bad, "main", batch_id="b1")
    assert list((workspaces.root / "worktrees").iterdir()) == []
    assert list((workspaces.root / "mirrors").iterdir()) == []


@pytest.mark.reliability
def test_malicious_ticket_ids_rejected_figure(workspaces, origin, reliability_row):
    rejected = 0
    for bad in MALICIOUS_IDS:
        try:
            workspaces.create(str(origin), bad, "main", batch_id="b1")
        except ValueError:
            rejected += 1
    untouched = not list((workspaces.root / "worktrees").iterdir())
    reliability_row(
        row="Malicious ticket ids",
        injection="$(id), -upload-pack=, Arabic-Indic digits, U+202E, 300 chars, ../",
        figure=f"{rejected}/{len(MALICIOUS_IDS)} rejected",
        criterion="100 %",
        passed=rejected == len(MALICIOUS_IDS) and untouched,
    )
    assert rejected == len(MALICIOUS_IDS) and untouched


@pytest.mark.parametrize("batch", ["../x", "", "a/b", "-rf", "..", "x" * 100])
def test_malicious_batch_ids_are_rejected(workspaces, origin, batch):
    with pytest.raises(ValueError):
        workspaces.create(str(origin), "PROJ-1", "main", batch_id=batch)


@pytest.mark.parametrize(
    "branch, base",
    [
        ("main", "main"),
        ("agent/PROJ-2", "main"),
        (None, "-upload-pack=x"),
        (None, "main..x"),
        (None, "no-such-ref"),
    ],
)
def test_bad_branch_or_base_ref(workspaces, origin, branch, base):
    with pytest.raises(WorkspaceError):
        workspaces.create(str(origin), "PROJ-1", base, branch, batch_id="b1")


@settings(max_examples=300, deadline=None)
@given(ticket=st.text(min_size=0, max_size=40), batch=st.text(min_size=0, max_size=20))
def test_property_no_path_escapes_the_worktree_root(tmp_path_factory, ticket, batch):
    manager = WorkspaceManager(tmp_path_factory.getbasetemp() / "prop-root", min_free_mb=0)
    try:
        path = manager.worktree_path(batch, ticket)
    except ValueError:
        return
    assert path.is_relative_to(manager.root / "worktrees")
    assert path.parent.parent == manager.root / "worktrees" and path.name == ticket


@pytest.mark.reliability
def test_refuses_when_free_disk_is_below_the_threshold(tmp_path, origin, reliability_row):
    manager = WorkspaceManager(tmp_path / "root", min_free_mb=10**9)
    with pytest.raises(DiskSpaceError, match="below the 1000000000 MB threshold"):
        manager.create(str(origin), "PROJ-1", "main", batch_id="b1")
    reliability_row(
        row="Disk: free space below the threshold",
        injection="threshold above the free space",
        figure=f"{len(manager.list_worktrees())} worktrees started",
        criterion="refused, 0 started",
        passed=manager.list_worktrees() == [],
    )
    assert manager.list_worktrees() == []


@pytest.mark.reliability
def test_cleanup_batch_leaves_no_worktree(workspaces, origin, reliability_row):
    for n in range(1, 4):
        workspaces.create(str(origin), f"PROJ-{n}", "main", batch_id="b1")
    other = workspaces.create(str(origin), "PROJ-9", "main", batch_id="b2")
    (workspaces.root / "worktrees" / "b1" / "stray-dir").mkdir()
    removed = workspaces.cleanup_batch("b1")
    mirror = next((workspaces.root / "mirrors").glob("*.git"))
    listed = git(mirror, "worktree", "list", "--porcelain")
    left = workspaces.list_worktrees("b1")
    assert (removed, len(left)) == (3, 0)
    assert "PROJ-1" not in listed and str(other) in listed
    assert git(mirror, "rev-parse", "--verify", "refs/heads/agent/PROJ-1")  # the branch (and its work) stays
    assert workspaces.cleanup_batch("b1") == 0
    print(f"\nFIGURES worktrees_left_after_batch={len(left)}")
    reliability_row(
        row="Disk: worktrees left after a batch",
        injection="3 worktrees and a stray folder",
        figure=f"{len(left)} left",
        criterion="0",
        passed=not left,
    )


def test_remove_single_worktree(workspaces, origin):
    workspaces.create(str(origin), "PROJ-1", "main", batch_id="b1")
    assert workspaces.remove("b1", "PROJ-1") is True
    assert workspaces.remove("b1", "PROJ-1") is False


def test_concurrent_creates_on_one_mirror(workspaces, origin):
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            workspaces.create(str(origin), f"PROJ-{n}", "main", batch_id="b1")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(workspaces.list_worktrees("b1")) == 5


def test_split_credentials():
    assert split_credentials("https://oauth2:glpat-secret@gitlab.example.com/g/app.git") == (
        "https://gitlab.example.com/g/app.git",
        "oauth2",
        "glpat-secret",
    )
    assert (
        split_credentials("https://gitlab.example.com:8443/g/app.git")[0]
        == "https://gitlab.example.com:8443/g/app.git"
    )
    assert split_credentials("/srv/repos/app.git") == ("/srv/repos/app.git", None, None)


def test_tokens_never_reach_the_mirror_or_error_messages(tmp_path, origin):
    manager = WorkspaceManager(tmp_path / "root", min_free_mb=1)
    token = "glpat-mirrorCANARY0123456789"
    # A file:// URL with credentials: the fetch works (file transport ignores them) and nothing stores them.
    path = manager.create(f"file://oauth2:{token}@{origin}", "PROJ-1", "main", batch_id="b1")
    assert (path / "README.md").is_file()
    stored = [p for p in (tmp_path / "root").rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert stored == []
    # An HTTP remote that refuses: the error names the URL without the token.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(WorkspaceError) as excinfo:
        manager.create(f"http://oauth2:{token}@127.0.0.1:{port}/g/app.git", "PROJ-2", "main", batch_id="b1")
    assert token not in str(excinfo.value)
    stored = [p for p in (tmp_path / "root").rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert stored == []


# -- the agent's tree is untrusted (issue 9: items 1 and 9) ---------------------------------------------
def _origin_with_submodule(tmp_path):
    lib = tmp_path / "lib-src"
    lib.mkdir()
    git(lib, "init", "-q", "-b", "main")
    (lib / "lib.py").write_text("X = 1\n")
    git(lib, "add", "-A")
    git(lib, "commit", "-qm", "lib")
    repo = tmp_path / "with-sub"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.py").write_text("a = 1\n")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


def test_reset_removes_a_git_planted_in_a_submodule_path_without_obeying_it(tmp_path):
    manager = WorkspaceManager(tmp_path / "root", min_free_mb=1)
    origin = _origin_with_submodule(tmp_path)
    path = manager.create(str(origin), "PROJ-1", "main", batch_id="b1")
    marker = tmp_path / "marker"
    planted = path / "vendor" / "lib"
    git(planted, "init", "-q")
    hook = planted / ".git" / "evil.sh"
    hook.write_text(f"#!/bin/sh\necho ran >> {marker}\ncat\n")
    hook.chmod(0o755)
    for key in ("core.fsmonitor", "filter.x.clean", "filter.x.smudge"):
        git(planted, "config", key, str(hook))
    (planted / ".gitattributes").write_text("* filter=x\n")
    (planted / "f").write_text("one\n")
    git(planted, "add", "f")
    marker.unlink(missing_ok=True)
    (planted / "f").write_text("two\n")
    again = manager.create(str(origin), "PROJ-1", "main", batch_id="b1")
    assert again == path
    assert not (planted / ".git").exists()
    assert not marker.exists()  # nothing the agent planted ran on the host
    assert manager.remove("b1", "PROJ-1") and not marker.exists()


def test_read_only_folders_the_agent_leaves_do_not_break_the_end_of_the_batch(workspaces, origin):
    path = workspaces.create(str(origin), "PROJ-1", "main", batch_id="b1")
    deep = path / "locked" / "deeper"
    deep.mkdir(parents=True)
    (deep / "f").write_text("x")
    (deep / "f").chmod(0)
    deep.chmod(0o500)
    (path / "locked").chmod(0o500)
    (path / "sealed").mkdir()
    (path / "sealed" / "g").write_text("y")
    (path / "sealed").chmod(0)
    # Root ignores permissions: drop every capability so the removal runs as an ordinary worker would.
    drop = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []
    code = (
        "from pathlib import Path\nfrom nightshift.agents.workspace import WorkspaceManager\n"
        f"print(WorkspaceManager(Path({str(workspaces.root)!r}), min_free_mb=1).cleanup_batch('b1'))"
    )
    proc = subprocess.run([*drop, sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "1"
    assert not path.exists() and workspaces.list_worktrees("b1") == []


def test_remote_head_reads_the_forge_branch_through_the_mirror(workspaces, origin, tmp_path):
    assert workspaces.remote_head(str(origin), "agent/PROJ-7") is None
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(origin), str(other))
    git(other, "checkout", "-q", "-b", "agent/PROJ-7")
    (other / "x.txt").write_text("x\n")
    git(other, "add", "-A")
    git(other, "commit", "-qm", "feat: x\n\nNightshift-Batch: b1")
    git(other, "push", "-q", "origin", "agent/PROJ-7")
    head = workspaces.remote_head(str(origin), "agent/PROJ-7")
    assert head is not None
    assert head.sha == git(other, "rev-parse", "HEAD").strip()
    assert head.author_email == "t@example.invalid"
    assert "Nightshift-Batch: b1" in head.message
    git(origin, "branch", "-D", "agent/PROJ-7")
    assert workspaces.remote_head(str(origin), "agent/PROJ-7") is None
