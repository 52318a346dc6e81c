"""Git smart HTTP for the GitLab stand-in: one bare repository per project, served by `git http-backend`.

The branches API reads these repositories, so a branch pushed with real `git push` shows up in
`GET /repository/branches`. The default branch and every tag are protected like on GitLab: a pre-receive
hook refuses pushes to them, which lets tests prove that only `agent/*` branches are ever pushed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from standins.http import HttpError, Request, Response

#: GitLab-like project paths: `group/project` or `group/sub/project`, no `..`, no leading dot or dash.
PROJECT_PATH_RE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)+\Z")
#: Branch names we accept from seeds (the default branch); pushed names are checked by git itself.
SAFE_BRANCH_RE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_./-]{0,200}\Z")
#: A fixed identity and date, so that seeded initial commits have the same sha in every run.
SEED_IDENTITY = {
    "GIT_AUTHOR_NAME": "Nightshift Stand-in",
    "GIT_AUTHOR_EMAIL": "standin@example.invalid",
    "GIT_COMMITTER_NAME": "Nightshift Stand-in",
    "GIT_COMMITTER_EMAIL": "standin@example.invalid",
    "GIT_AUTHOR_DATE": "2024-01-15T17:00:00+00:00",
    "GIT_COMMITTER_DATE": "2024-01-15T17:00:00+00:00",
}
PROTECTED_MESSAGE = "GitLab: You are not allowed to push code to protected branches on this project."

_PRE_RECEIVE = """#!/bin/sh
# Stand-in for GitLab's protected branches: the default branch and all tags cannot be pushed.
status=0
while read -r old new ref; do
  case "$ref" in
    {patterns})
      echo "{message} (protected branch: $ref)" >&2
      status=1 ;;
  esac
done
exit $status
"""

_FIELDS = (
    "%(refname:strip=2)",
    "%(objectname)",
    "%(parent)",
    "%(authorname)",
    "%(authoremail:trim)",
    "%(authordate:iso-strict)",
    "%(committername)",
    "%(committeremail:trim)",
    "%(committerdate:iso-strict)",
    "%(contents)",
)


class GitError(RuntimeError):
    """A git command of the stand-in failed."""


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    parent_ids: list[str]
    title: str
    message: str
    author_name: str
    author_email: str
    authored_date: str
    committer_name: str
    committer_email: str
    committed_date: str


@dataclass(frozen=True)
class BranchInfo:
    name: str
    commit: CommitInfo


def git_env(home: Path) -> dict[str, str]:
    """An environment isolated from the user's git configuration and credential helpers."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
    }


class BareRepositories:
    """The bare repositories of all stand-in projects, under one root (GIT_PROJECT_ROOT)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._env = git_env(self.root)

    # --- creation ----------------------------------------------------------------------------------
    def path_for(self, project_path: str) -> Path:
        if not PROJECT_PATH_RE.match(project_path) or ".." in project_path:
            raise ValueError(f"{project_path!r} is not a valid project path")
        return self.root / f"{project_path}.git"

    def create(
        self,
        project_path: str,
        default_branch: str = "main",
        *,
        seed_dir: Path | None = None,
        files: dict[str, str] | None = None,
    ) -> Path:
        """Create the bare repository, with one initial commit from `seed_dir` and/or `files` if given."""
        if not SAFE_BRANCH_RE.match(default_branch):
            raise ValueError(f"{default_branch!r} is not an accepted default branch name")
        bare = self.path_for(project_path)
        if bare.exists():
            return bare
        bare.parent.mkdir(parents=True, exist_ok=True)
        self._git("init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(bare))
        self._git("config", "http.receivepack", "true", git_dir=bare)
        self._git("config", "receive.denyDeleteCurrent", "true", git_dir=bare)
        self.protect(project_path, [default_branch])
        if seed_dir is not None or files:
            self._initial_commit(bare, default_branch, seed_dir, files or {})
        return bare

    def protect(self, project_path: str, branches: list[str]) -> None:
        """(Re)write the pre-receive hook refusing pushes to `branches` and to every tag."""
        for name in branches:
            if not SAFE_BRANCH_RE.match(name):
                raise ValueError(f"{name!r} cannot be protected by the stand-in")
        patterns = "|".join([*(f"'refs/heads/{name}'" for name in branches), "refs/tags/*"])
        hook = self.path_for(project_path) / "hooks" / "pre-receive"
        hook.write_text(_PRE_RECEIVE.replace("{patterns}", patterns).replace("{message}", PROTECTED_MESSAGE))
        hook.chmod(0o755)

    def _initial_commit(self, bare: Path, branch: str, seed_dir: Path | None, files: dict[str, str]) -> None:
        with tempfile.TemporaryDirectory(prefix="standin-seed-") as tmp:
            work = Path(tmp) / "work"
            if seed_dir is not None:
                shutil.copytree(seed_dir, work, ignore=shutil.ignore_patterns(".git"), symlinks=True)
            else:
                work.mkdir()
            for rel, text in files.items():
                target = work / rel
                if not target.resolve().is_relative_to(work.resolve()):
                    raise ValueError(f"seed file {rel!r} leaves the repository")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
            env = {**self._env, **SEED_IDENTITY, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._git("--work-tree", str(work), "add", "--all", ".", git_dir=bare, env=env)
            tree = self._git("write-tree", git_dir=bare, env=env).strip()
            sha = self._git("commit-tree", tree, "-m", "Initial commit", git_dir=bare, env=env).strip()
            self._git("update-ref", f"refs/heads/{branch}", sha, git_dir=bare)

    # --- reading -----------------------------------------------------------------------------------
    def heads(self, project_path: str) -> dict[str, str]:
        """Branch name -> head sha, in one git call (MR renderers use it for `sha`)."""
        out = self._git(
            "for-each-ref",
            "--format=%(refname:strip=2) %(objectname)",
            "refs/heads",
            git_dir=self.path_for(project_path),
        )
        return dict(line.rsplit(" ", 1) for line in out.splitlines() if line)

    def branches(self, project_path: str, names: list[str] | None = None) -> list[BranchInfo]:
        refs = [f"refs/heads/{n}" for n in names] if names else ["refs/heads"]
        out = self._git(
            "for-each-ref",
            "--sort=refname",
            "--format=" + "%00".join(_FIELDS) + "%1e",
            *refs,
            git_dir=self.path_for(project_path),
        )
        branches = []
        for record in out.split("\x1e"):
            record = record.lstrip("\n")
            if not record:
                continue
            name, sha, parents, a_name, a_mail, a_date, c_name, c_mail, c_date, message = record.split("\x00")
            if names and name not in names:
                continue  # for-each-ref matches prefixes on whole components; keep exact names only
            title = message.split("\n", 1)[0]
            branches.append(
                BranchInfo(
                    name,
                    CommitInfo(
                        sha, parents.split(), title, message, a_name, a_mail, a_date, c_name, c_mail, c_date
                    ),
                )
            )
        return branches

    def branch(self, project_path: str, name: str) -> BranchInfo | None:
        found = self.branches(project_path, [name])
        return found[0] if found else None

    def merged_into(self, project_path: str, target: str) -> set[str]:
        """Branches whose head is reachable from `target` (GitLab's `merged` flag)."""
        try:
            out = self._git(
                "for-each-ref",
                f"--merged=refs/heads/{target}",
                "--format=%(refname:strip=2)",
                "refs/heads",
                git_dir=self.path_for(project_path),
            )
        except GitError:
            return set()
        return set(out.split())

    def resolve(self, project_path: str, ref: str) -> str | None:
        """The commit sha `ref` (a branch, tag or sha) names, or None."""
        if not ref or ref.startswith("-"):
            return None
        try:
            return (
                self._git(
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    f"{ref}^{{commit}}",
                    git_dir=self.path_for(project_path),
                ).strip()
                or None
            )
        except GitError:
            return None

    def is_ancestor(self, project_path: str, ancestor: str, descendant: str) -> bool:
        proc = subprocess.run(
            [
                "git",
                "--git-dir",
                str(self.path_for(project_path)),
                "merge-base",
                "--is-ancestor",
                ancestor,
                descendant,
            ],
            env=self._env,
            capture_output=True,
            timeout=30,
        )
        return proc.returncode == 0

    # --- writing -----------------------------------------------------------------------------------
    def create_branch(self, project_path: str, name: str, sha: str) -> None:
        """Create `name` at `sha`; refuse an existing branch or an invalid name (as GitLab does)."""
        check = subprocess.run(
            ["git", "check-ref-format", "--branch", name], env=self._env, capture_output=True, timeout=30
        )
        if check.returncode != 0 or name.startswith("-"):
            raise HttpError(400, "Branch name is invalid")
        # The empty old value makes update-ref fail if the branch already exists.
        self._git("update-ref", f"refs/heads/{name}", sha, "", git_dir=self.path_for(project_path))

    def fast_forward(self, project_path: str, branch: str, sha: str) -> bool:
        """Move `branch` to `sha` if that is a fast-forward (a merge in the stand-in); True if moved."""
        current = self.resolve(project_path, f"refs/heads/{branch}")
        if current is None or not self.is_ancestor(project_path, current, sha):
            return False
        self._git("update-ref", f"refs/heads/{branch}", sha, current, git_dir=self.path_for(project_path))
        return True

    # --- smart HTTP ----------------------------------------------------------------------------------
    def serve(self, request: Request, project_path: str, rest: str, remote_user: str) -> Response:
        """Run one smart-HTTP exchange through `git http-backend` (CGI) and return its answer."""
        env = {
            **self._env,
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{project_path}.git/{rest}",
            "REQUEST_METHOD": request.method,
            "QUERY_STRING": urlsplit(request.raw_path).query,
            "CONTENT_TYPE": request.headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(request.body)),
            "REMOTE_USER": remote_user,
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
        }
        if "git-protocol" in request.headers:
            env["GIT_PROTOCOL"] = request.headers["git-protocol"]
        if "content-encoding" in request.headers:
            env["HTTP_CONTENT_ENCODING"] = request.headers["content-encoding"]
        proc = subprocess.run(
            ["git", "http-backend"], input=request.body, env=env, capture_output=True, timeout=120
        )
        return parse_cgi_output(proc.stdout)

    # --- internals -----------------------------------------------------------------------------------
    def _git(self, *args: str, git_dir: Path | None = None, env: dict[str, str] | None = None) -> str:
        cmd = ["git", *(["--git-dir", str(git_dir)] if git_dir is not None else []), *args]
        proc = subprocess.run(cmd, env=env or self._env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise GitError(f"{' '.join(args[:2])} failed: {proc.stderr.strip()}")
        return proc.stdout


def parse_cgi_output(output: bytes) -> Response:
    """Split a CGI answer into status, headers and body."""
    sep = output.find(b"\r\n\r\n")
    if sep >= 0:
        head, body = output[:sep], output[sep + 4 :]
    else:
        head, _, body = output.partition(b"\n\n")
    status = 200
    content_type = "application/octet-stream"
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        if key.lower() == "status":
            status = int(value.split()[0])
        elif key.lower() == "content-type":
            content_type = value
        elif key.lower() != "content-length":
            headers[key] = value
    return Response(status=status, body=body, headers=headers, content_type=content_type)
