"""The hardened git runner: what an agent-written tree or a user's config cannot make host git do."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nightshift.forge import git as g

WHEN = dt.datetime(2026, 1, 5, 18, 0, tzinfo=dt.UTC)


def sh(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    sh(path, "init", "-q", "-b", "main")
    (path / "a.py").write_text("a = 1\n")
    sh(path, "add", "-A")
    sh(path, "commit", "-qm", "base")
    return path


def _hook(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "marker"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\necho ran >> {marker}\ncat\n")
    hook.chmod(0o755)
    return hook, marker


def test_a_nested_git_is_refused_before_git_reads_the_tree(repo: Path, tmp_path: Path) -> None:
    hook, marker = _hook(tmp_path)
    nested = repo / "deep" / "sub"
    nested.mkdir(parents=True)
    sh(nested, "init", "-q")
    sh(nested, "config", "core.fsmonitor", str(hook))
    (repo / "x" / ".git").parent.mkdir()
    (repo / "x" / ".git").write_text("gitdir: /somewhere/else\n")
    with pytest.raises(g.NestedRepositoryError) as err:
        g.commit_all(repo, "m\n", when=WHEN)
    assert err.value.paths == ["deep/sub/.git", "x/.git"]
    assert "deep/sub/.git" in str(err.value)
    with pytest.raises(g.NestedRepositoryError):
        g.status_paths(repo)
    assert not marker.exists()


def test_user_and_global_config_is_never_read(repo: Path, tmp_path: Path, monkeypatch) -> None:
    hook, marker = _hook(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f"[core]\n\tfsmonitor = {hook}\n\thooksPath = {tmp_path}\n")
    (tmp_path / "pre-commit").write_text(f"#!/bin/sh\necho ran >> {marker}\n")
    (tmp_path / "pre-commit").chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    (repo / "b.py").write_text("b = 1\n")
    assert g.commit_all(repo, "add b\n", when=WHEN) is not None
    assert not marker.exists()


def test_repository_config_filters_and_hooks_are_neutralised(repo: Path, tmp_path: Path) -> None:
    """Even the repository's own config (which the agent cannot write) cannot run hooks or fsmonitor."""
    hook, marker = _hook(tmp_path)
    sh(repo, "config", "core.fsmonitor", str(hook))
    sh(repo, "config", "core.hooksPath", str(tmp_path))
    (tmp_path / "pre-commit").write_text(f"#!/bin/sh\necho ran >> {marker}\n")
    (tmp_path / "pre-commit").chmod(0o755)
    (repo / "c.py").write_text("c = 1\n")
    g.commit_all(repo, "add c\n", when=WHEN)
    assert not marker.exists()


def test_a_gitlink_commit_is_refused(repo: Path) -> None:
    sha = sh(repo, "rev-parse", "HEAD")
    sh(repo, "update-index", "--add", "--cacheinfo", f"160000,{sha},vendor/lib")
    (repo / "vendor" / "lib").mkdir(parents=True)  # an unpopulated submodule folder
    with pytest.raises(g.GitlinkError, match="vendor/lib"):
        g.commit_all(repo, "m\n", when=WHEN)
    assert sh(repo, "rev-parse", "HEAD") == sha  # nothing committed
    assert "vendor/lib" not in sh(repo, "ls-files", "--stage")  # and the index is unstaged


def test_commits_are_deterministic_and_carry_the_message(repo: Path) -> None:
    (repo / "d.py").write_text("d = 1\n")
    sha = g.commit_all(repo, "feat: d\n\nNightshift-Batch: b1\n", when=WHEN)
    assert sh(repo, "log", "-1", "--format=%an <%ae> %aI%n%B", sha).startswith(
        "Nightshift <nightshift@localhost> 2026-01-05T18:00:00+00:00\nfeat: d"
    )
    assert g.commit_all(repo, "nothing\n", when=WHEN) is None


def test_only_the_remotes_own_transport_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(g.GitError):
        g.remote_branch_sha("ext::sh -c touch% /tmp/nightshift-ext-pwned", "main", None)
    assert not Path("/tmp/nightshift-ext-pwned").exists()
    assert g._protocols("https://gitlab.example.com/g/app.git") == ["https"]
    assert g._protocols("/srv/app.git") == ["file"]


def test_objects_only_reads_no_attribute_file_the_agent_wrote(repo: Path) -> None:
    (repo / ".gitattributes").write_text("*.bin diff\n")
    (repo / "x.bin").write_bytes(b"\x00\x01binary\x00")
    sha = g.commit_all(repo, "bin\n", when=WHEN)
    out = g.run_git(["diff", "--numstat", f"{sha}~1", sha], repo, objects_only=True).stdout
    assert "-\t-\tx.bin" in out  # still binary: the agent's `diff` attribute was not read


def test_locate_never_discovers_upwards(tmp_path: Path, repo: Path) -> None:
    inner = repo / "inner"
    inner.mkdir()
    with pytest.raises(g.GitError, match="neither a git work tree nor a git dir"):
        g.locate(inner)


def test_unreadable_files_and_read_only_folders_do_not_fail_the_commit(repo: Path) -> None:
    locked = repo / "locked"
    locked.mkdir()
    (locked / "secret.py").write_text("x = 1\n")
    (locked / "secret.py").chmod(0)
    (repo / "sealed").mkdir()
    (repo / "sealed" / "y.py").write_text("y = 1\n")
    (repo / "sealed").chmod(0)
    locked.chmod(0o500)
    # Root ignores permissions: drop every capability so git runs as an ordinary worker would.
    drop = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []
    code = (
        "import datetime as dt, sys\nfrom pathlib import Path\nfrom nightshift.forge.git import commit_all\n"
        f"print(commit_all(Path({str(repo)!r}), 'm\\n', when=dt.datetime(2026, 1, 5, tzinfo=dt.UTC)))"
    )
    proc = subprocess.run([*drop, sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sh(repo, "ls-files").split() == ["a.py", "locked/secret.py", "sealed/y.py"]
