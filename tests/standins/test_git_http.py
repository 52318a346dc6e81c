"""Git smart HTTP on the GitLab stand-in: real `git clone`/`git push`, token auth, protected branches."""

from __future__ import annotations

import base64
import os
import subprocess

import gitlab
import pytest

from standins.fixtures import running_gitlab

P = "group/app"


def git(env: dict[str, str], *args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def clone(server, env, dest, token=None) -> None:
    proc = git(env, "clone", "--quiet", server.repo_url(P, token or server.token), str(dest))
    assert proc.returncode == 0, proc.stderr


def commit_file(env, work, name: str, content: str | bytes, message: str = "feat(PROJ-1): change") -> str:
    path = work / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert git(env, "add", name, cwd=work).returncode == 0
    assert git(env, "commit", "--quiet", "-m", message, cwd=work).returncode == 0
    return git(env, "rev-parse", "HEAD", cwd=work).stdout.strip()


def test_pushed_branch_appears_in_the_branches_api(gitlab_standin, gl, git_env, tmp_path):
    work = tmp_path / "work"
    clone(gitlab_standin, git_env, work)
    assert (work / "README.md").is_file()
    git(git_env, "checkout", "--quiet", "-b", "agent/PROJ-1", cwd=work)
    sha = commit_file(git_env, work, "feature.py", "print('hi')\n")
    push = git(git_env, "push", "--quiet", "origin", "agent/PROJ-1", cwd=work)
    assert push.returncode == 0, push.stderr
    branch = gl.projects.get(P).branches.get("agent/PROJ-1")
    assert branch.commit["id"] == sha
    assert branch.commit["title"] == "feat(PROJ-1): change"
    assert branch.protected is False and branch.merged is False
    mr = gl.projects.get(P).mergerequests.create(
        {"source_branch": "agent/PROJ-1", "target_branch": "main", "title": "Draft: x"}
    )
    assert mr.sha == sha


@pytest.mark.reliability
def test_push_to_main_and_tags_is_refused_as_protected(gitlab_standin, gl, git_env, tmp_path, reliability_row):
    work = tmp_path / "work"
    clone(gitlab_standin, git_env, work)
    main_before = gl.projects.get(P).branches.get("main").commit["id"]
    commit_file(git_env, work, "evil.txt", "x\n")
    refused = git(git_env, "push", "origin", "HEAD:main", cwd=work)
    assert refused.returncode != 0
    assert "protected branch" in refused.stderr
    forced = git(git_env, "push", "--force", "origin", "HEAD:refs/heads/main", cwd=work)
    assert forced.returncode != 0 and "protected branch" in forced.stderr
    deleted = git(git_env, "push", "origin", ":main", cwd=work)
    assert deleted.returncode != 0
    git(git_env, "tag", "v1.0", cwd=work)
    tag = git(git_env, "push", "origin", "v1.0", cwd=work)
    assert tag.returncode != 0 and "protected branch" in tag.stderr
    assert gl.projects.get(P).branches.get("main").commit["id"] == main_before
    refused_total = sum(p.returncode != 0 for p in (refused, forced, deleted, tag))
    reliability_row(row="Pushes outside agent/*, tags, force-push", injection="push main, force main, delete main, tag",
                    figure=f"{refused_total}/4 refused", criterion="100 %", passed=refused_total == 4)
    assert refused_total == 4, "pushes outside agent/* refused: 4 of 4 (100 %)"


def test_credentials_are_required_and_checked(gitlab_standin, git_env, tmp_path):
    anonymous = git(git_env, "clone", gitlab_standin.repo_url(P), str(tmp_path / "a"))
    assert anonymous.returncode != 0
    wrong = git(git_env, "clone", gitlab_standin.repo_url(P, "glpat-wrong-token"), str(tmp_path / "b"))
    assert wrong.returncode != 0 and "Authentication failed" in wrong.stderr
    any_user = git(git_env, "clone", gitlab_standin.repo_url(P, gitlab_standin.token, "whoever"), str(tmp_path / "c"))
    assert any_user.returncode == 0, any_user.stderr


def test_read_only_token_can_clone_but_not_push(gitlab_standin, gl, git_env, tmp_path):
    work = tmp_path / "work"
    clone(gitlab_standin, git_env, work, token=gitlab_standin.read_only_token)
    git(git_env, "checkout", "--quiet", "-b", "agent/PROJ-2", cwd=work)
    commit_file(git_env, work, "f.txt", "x\n")
    push = git(git_env, "push", "origin", "agent/PROJ-2", cwd=work)
    assert push.returncode != 0 and "403" in push.stderr
    assert [b.name for b in gl.projects.get(P).branches.list(get_all=True)] == ["main"]


def test_token_in_an_extra_header_works_without_a_401_round_trip(gitlab_standin, gl, git_env, tmp_path):
    """How the pipeline pushes: credentials in git's environment, never in the URL."""
    basic = base64.b64encode(f"oauth2:{gitlab_standin.token}".encode()).decode()
    env = {**git_env, "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
           "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"}
    work = tmp_path / "work"
    assert git(env, "clone", "--quiet", gitlab_standin.repo_url(P), str(work)).returncode == 0
    git(env, "checkout", "--quiet", "-b", "agent/PROJ-3", cwd=work)
    sha = commit_file(env, work, "f.txt", "x\n")
    assert git(env, "push", "--quiet", "origin", "agent/PROJ-3", cwd=work).returncode == 0
    assert gl.projects.get(P).branches.get("agent/PROJ-3").commit["id"] == sha
    assert all(e.status != 401 for e in gitlab_standin.requests(path_regex=r"\.git/"))


def test_a_large_push_arrives_chunked(gitlab_standin, gl, git_env, tmp_path):
    work = tmp_path / "work"
    clone(gitlab_standin, git_env, work)
    git(git_env, "checkout", "--quiet", "-b", "agent/PROJ-4", cwd=work)
    sha = commit_file(git_env, work, "blob.bin", os.urandom(1_500_000))  # above git's 1 MiB http.postBuffer
    push = git(git_env, "push", "--quiet", "origin", "agent/PROJ-4", cwd=work)
    assert push.returncode == 0, push.stderr
    packs = gitlab_standin.requests("POST", r"git-receive-pack$")
    assert any("chunked" in e.headers.get("transfer-encoding", "") for e in packs)
    assert gl.projects.get(P).branches.get("agent/PROJ-4").commit["id"] == sha


def test_seed_directory_becomes_the_initial_commit_with_a_stable_sha(tmp_path, git_env):
    seed_dir = tmp_path / "seed"
    (seed_dir / "src").mkdir(parents=True)
    (seed_dir / "src" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (seed_dir / "README.md").write_text("# calc\n")
    seed = {"projects": [{"path_with_namespace": "demo/calc", "repository": {"seed_dir": str(seed_dir)}}]}
    shas = []
    for run in range(2):
        with running_gitlab(seed) as server:
            project = gitlab.Gitlab(server.base_url, private_token=server.token).projects.get("demo/calc")
            shas.append(project.branches.get("main").commit["id"])
            work = tmp_path / f"clone{run}"
            assert git(git_env, "clone", "--quiet", server.repo_url("demo/calc", server.token),
                       str(work)).returncode == 0
            assert (work / "src" / "calc.py").read_text().startswith("def add")
    assert shas[0] == shas[1]


def test_an_empty_repository_has_no_branches(tmp_path):
    seed = {"projects": [{"path_with_namespace": "demo/empty", "repository": {}}]}
    with running_gitlab(seed) as server:
        project = gitlab.Gitlab(server.base_url, private_token=server.token).projects.get("demo/empty")
        assert project.empty_repo is True and project.default_branch is None
        assert project.branches.list(get_all=True) == []
