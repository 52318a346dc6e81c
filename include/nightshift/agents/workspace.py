"""Worktrees for agents: one cached bare mirror per repository, one git worktree per (batch, ticket).

Layout under root:
  mirrors/<host_path-hash>.git      bare repository; origin branches under refs/remotes/origin/*
  mirrors/<...>.lock                 flock serialising fetch / worktree add / remove per mirror
  worktrees/<batch_id>/<ticket_id>   worktree on branch agent/<ticket_id>

Why this shape:
- ticket and batch ids are validated before they reach a path or a git argument (security fact 5);
- a token in the repository URL is used for fetching only: it is handed to git through a credential
  helper reading the environment, never stored in the mirror's config, FETCH_HEAD or argv, so the
  sandbox (which sees the mirror's objects read-only) and the agent never get it (fact 9);
- create() is idempotent (Airflow runs tasks at least once): an existing worktree is reused and reset;
- cleanup_batch() leaves no worktree behind; free disk below the threshold refuses a new worktree;
- git runs hardened (nightshift.forge.git): the repository is always named (GIT_DIR, GIT_WORK_TREE),
  config is fixed, network happens in the mirror only; a `.git` the agent planted below a worktree is
  deleted before git looks at the tree, and folders the agent made read-only are made writable again
  before removal, so an agent cannot break the end of the batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from nightshift.agents.redact import Redactor
from nightshift.filelock import exclusive
from nightshift.forge.git import GitPaths, hardened_config_args, hardened_env, nested_git_paths
from nightshift.models import check_batch_id, check_ticket_id

log = logging.getLogger(__name__)

_GIT_TIMEOUT = 600
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get && printf "username=%s\\npassword=%s\\n" '
    '"$NIGHTSHIFT_GIT_USERNAME" "$NIGHTSHIFT_GIT_PASSWORD"; }; f'
)


class WorkspaceError(RuntimeError):
    """A worktree could not be prepared; the message never contains credentials."""


class DiskSpaceError(WorkspaceError):
    """Free disk is below the configured threshold: no new worktree is started."""


def split_credentials(repo_url: str) -> tuple[str, str | None, str | None]:
    """(url without user:password, username, password). Local paths pass through unchanged."""
    if "://" not in repo_url:
        return repo_url, None, None
    parts = urlsplit(repo_url)
    if parts.username is None and parts.password is None:
        return repo_url, None, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, parts.username, parts.password


def mirror_name(clean_url: str) -> str:
    """A readable, collision-free folder name for a repository URL."""
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", clean_url.split("://", 1)[-1]).strip("._-")[-60:] or "repo"
    digest = hashlib.sha256(clean_url.encode()).hexdigest()[:10]
    return f"{tail}-{digest}.git"


class WorkspaceManager:
    """Prepares and removes agent worktrees under `root`."""

    def __init__(self, root: Path, min_free_mb: int = 1024, *, fetch_ttl_seconds: float = 300.0) -> None:
        self.root = Path(root).resolve()
        self.min_free_mb = min_free_mb
        self.fetch_ttl_seconds = fetch_ttl_seconds
        (self.root / "mirrors").mkdir(parents=True, exist_ok=True)
        (self.root / "worktrees").mkdir(parents=True, exist_ok=True)

    # -- public API --
    def free_mb(self) -> int:
        return shutil.disk_usage(self.root).free // (1024 * 1024)

    def check_disk(self) -> None:
        free = self.free_mb()
        if free < self.min_free_mb:
            raise DiskSpaceError(
                f"only {free} MB free under {self.root}, below the {self.min_free_mb} MB threshold "
                "(agent.min_free_disk_mb): not starting another worktree"
            )

    def worktree_path(self, batch_id: str, ticket_id: str) -> Path:
        check_batch_id(batch_id)
        check_ticket_id(ticket_id)
        path = (self.root / "worktrees" / batch_id / ticket_id).resolve()
        if not path.is_relative_to(self.root / "worktrees"):
            raise WorkspaceError(f"worktree path for {ticket_id} leaves {self.root}")
        return path

    def mirror(self, repo_url: str) -> Path:
        """Clone or refresh the cached mirror of repo_url and return its path."""
        clean, _, _ = split_credentials(repo_url)
        path = self.root / "mirrors" / mirror_name(clean)
        with self._lock(path):
            self._ensure_mirror(repo_url, path)
        return path

    def create(
        self,
        repo_url: str,
        ticket_id: str,
        base_ref: str,
        branch: str | None = None,
        *,
        batch_id: str,
        reset: bool = True,
    ) -> Path:
        """A worktree at worktrees/<batch>/<ticket> on branch agent/<ticket>, starting at base_ref.

        Idempotent: an existing worktree for the same ticket is reused; with reset=True (default) its
        branch is moved back to base_ref and untracked files are removed, so a retried checkpoint starts
        from the same state."""
        check_ticket_id(ticket_id)
        expected = f"agent/{ticket_id}"
        if branch is None:
            branch = expected
        if branch != expected:
            raise WorkspaceError(f"agents work on {expected} only, not {branch!r}")
        _check_ref_arg(base_ref)
        path = self.worktree_path(batch_id, ticket_id)
        self.check_disk()
        clean, _, _ = split_credentials(repo_url)
        mirror = self.root / "mirrors" / mirror_name(clean)
        with self._lock(mirror):
            self._ensure_mirror(repo_url, mirror)
            base = self._resolve(mirror, base_ref)
            self._git(mirror, "worktree", "prune")
            if _is_worktree_of(path, mirror):
                if reset:
                    _make_writable(path)
                    remove_planted_git(path)
                    self._git(path, "checkout", "-q", "--force", "-B", branch, base)
                    self._git(path, "reset", "-q", "--hard", base)
                    self._git(path, "clean", "-q", "-ffdx")
                    remove_planted_git(path)
                return path
            if path.exists() or path.is_symlink():
                _rmtree(path)
            # The branch may be checked out in a stale worktree of another batch: free it first.
            for other, other_branch in self._worktrees(mirror):
                if other_branch == f"refs/heads/{branch}" and other != path:
                    log.warning("removing stale worktree %s that held %s", other, branch)
                    _rmtree(other)
                    self._git(mirror, "worktree", "prune")
            path.parent.mkdir(parents=True, exist_ok=True)
            if reset or not self._has_branch(mirror, branch):
                self._git(mirror, "worktree", "add", "-q", "-B", branch, str(path), base)
            else:
                self._git(mirror, "worktree", "add", "-q", str(path), branch)
        return path

    def remote_head(self, repo_url: str, branch: str) -> RemoteHead | None:
        """The forge's current head of `branch` (None if it has none), fetched into the mirror now (the
        network stays in the mirror, never in a worktree), with its author and message, so the flow can
        tell its own commits from anyone else's before an agent runs."""
        _check_ref_arg(branch)
        clean, user, password = split_credentials(repo_url)
        mirror = self.root / "mirrors" / mirror_name(clean)
        tracking = f"refs/remotes/origin/{branch}"
        prefix, env = _credential_args(user, password)
        redactor = Redactor([password] if password else [])
        with self._lock(mirror):
            self._ensure_mirror(repo_url, mirror)
            listed = self._git(
                mirror,
                *prefix,
                "ls-remote",
                "--heads",
                "origin",
                f"refs/heads/{branch}",
                extra_env=env,
                redactor=redactor,
                remote=clean,
            )
            if not any(line.endswith(f"\trefs/heads/{branch}") for line in listed.splitlines()):
                self._run(mirror, "update-ref", "-d", tracking)
                return None
            self._git(
                mirror,
                *prefix,
                "fetch",
                "-q",
                "--no-tags",
                "origin",
                f"+refs/heads/{branch}:{tracking}",
                extra_env=env,
                redactor=redactor,
                remote=clean,
            )
            (mirror / "FETCH_HEAD").unlink(missing_ok=True)
            out = self._git(mirror, "log", "-1", "--format=%H%x00%ae%x00%B", tracking, "--")
        sha, email, message = [*out.split("\0", 2), "", ""][:3]
        return RemoteHead(sha=sha.strip(), author_email=email.strip(), message=message)

    def remove(self, batch_id: str, ticket_id: str) -> bool:
        """Remove one worktree (the branch and its commits stay in the mirror). True if one existed."""
        path = self.worktree_path(batch_id, ticket_id)
        if not path.exists() and not path.is_symlink():
            return False
        mirror = _mirror_of(path)
        if mirror is not None and mirror.is_relative_to(self.root / "mirrors"):
            with self._lock(mirror):
                # No git inside the agent's tree: delete it, then let the mirror forget it.
                _rmtree(path)
                self._git(mirror, "worktree", "prune")
        else:
            _rmtree(path)
        return True

    def cleanup_batch(self, batch_id: str) -> int:
        """Remove every worktree of a batch; returns how many were removed. Afterwards none is left."""
        check_batch_id(batch_id)
        batch_dir = self.root / "worktrees" / batch_id
        if not batch_dir.is_dir():
            return 0
        removed = 0
        for entry in sorted(batch_dir.iterdir()):
            try:
                check_ticket_id(entry.name)
            except ValueError:
                _rmtree(entry)  # not ours: still must not be left behind
                continue
            removed += int(self.remove(batch_id, entry.name))
        _rmtree(batch_dir)
        for mirror in (self.root / "mirrors").glob("*.git"):
            with self._lock(mirror), contextlib.suppress(WorkspaceError):
                self._git(mirror, "worktree", "prune")
                # Commits the flow kept for a retried push (nightshift.forge.git.keep_commit).
                kept = self._git(
                    mirror, "for-each-ref", "--format=%(refname)", f"refs/nightshift/{batch_id}/"
                )
                for ref in kept.split():
                    self._git(mirror, "update-ref", "-d", ref)
        return removed

    def list_worktrees(self, batch_id: str | None = None) -> list[Path]:
        base = self.root / "worktrees"
        if batch_id is not None:
            check_batch_id(batch_id)
            base = base / batch_id
            return sorted(p for p in base.iterdir()) if base.is_dir() else []
        return sorted(p for batch in base.iterdir() if batch.is_dir() for p in batch.iterdir())

    # -- internals --
    def _ensure_mirror(self, repo_url: str, path: Path) -> None:
        clean, user, password = split_credentials(repo_url)
        stamp = path / "nightshift-fetched"
        if not (path / "HEAD").is_file():
            if path.exists():
                _rmtree(path)
            path.mkdir(parents=True)
            self._git(path, "init", "-q", "--bare")
            self._git(path, "config", "remote.origin.url", clean)
            self._git(
                path, "config", "--replace-all", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"
            )
            self._git(path, "config", "--add", "remote.origin.fetch", "+refs/tags/*:refs/tags/*")
            self._git(path, "config", "gc.auto", "0")
        elif stamp.is_file() and time.time() - stamp.stat().st_mtime < self.fetch_ttl_seconds:
            return
        prefix, env = _credential_args(user, password)
        args = [*prefix, "fetch", "-q", "--prune", "origin"]
        redactor = Redactor([password] if password else [])
        self._git(path, *args, extra_env=env, redactor=redactor, remote=clean)
        stamp.touch()
        # Only what fetch itself records is FETCH_HEAD, and it never holds credentials with the helper;
        # drop it anyway so nothing URL-shaped lies around for the sandbox.
        (path / "FETCH_HEAD").unlink(missing_ok=True)

    def _resolve(self, mirror: Path, base_ref: str) -> str:
        for candidate in (f"refs/remotes/origin/{base_ref}", f"refs/tags/{base_ref}", base_ref):
            proc = self._run(
                mirror, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}"
            )
            if proc.returncode == 0:
                return proc.stdout.decode().strip()
        raise WorkspaceError(f"base ref {base_ref!r} not found in the repository")

    def _has_branch(self, mirror: Path, branch: str) -> bool:
        return self._run(mirror, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").returncode == 0

    def _worktrees(self, mirror: Path) -> list[tuple[Path, str]]:
        out = self._git(mirror, "worktree", "list", "--porcelain")
        found: list[tuple[Path, str]] = []
        current: Path | None = None
        for line in out.splitlines():
            if line.startswith("worktree "):
                current = Path(line[len("worktree ") :])
            elif line.startswith("branch ") and current is not None:
                found.append((current, line[len("branch ") :]))
        return found

    def _run(
        self, cwd: Path, *args: str, extra_env: dict[str, str] | None = None, remote: str | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """git, hardened: `cwd` is a mirror (bare, named as GIT_DIR) or one of our worktrees (its own git
        dir and work tree named explicitly), never discovered."""
        paths = _git_paths(cwd)
        env = {**hardened_env(paths, remote=remote), "LANG": "C", **(extra_env or {})}
        return subprocess.run(
            ["git", *hardened_config_args(remote), *args],
            cwd=cwd,
            capture_output=True,
            env=env,
            timeout=_GIT_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )

    def _git(
        self,
        cwd: Path,
        *args: str,
        extra_env: dict[str, str] | None = None,
        redactor: Redactor | None = None,
        remote: str | None = None,
    ) -> str:
        try:
            proc = self._run(cwd, *args, extra_env=extra_env, remote=remote)
        except subprocess.TimeoutExpired:
            raise WorkspaceError(f"git {args[0]} timed out after {_GIT_TIMEOUT}s") from None
        if proc.returncode != 0:
            message = proc.stderr.decode(errors="replace").strip()[-2000:]
            red = redactor or Redactor()
            raise WorkspaceError(
                red.text(
                    f"git {' '.join(a for a in args if not a.startswith('credential'))} failed: {message}"
                )
            )
        return proc.stdout.decode(errors="replace")

    @contextlib.contextmanager
    def _lock(self, mirror: Path) -> Iterator[None]:
        with exclusive(mirror.with_suffix(".lock")):
            yield


def _check_ref_arg(ref: str) -> None:
    if not ref or ref.startswith("-") or any(ord(c) < 33 or c in "~^:?*[\\" for c in ref) or ".." in ref:
        raise WorkspaceError(f"{ref!r} is not an acceptable base ref")


def _is_worktree_of(path: Path, mirror: Path) -> bool:
    found = _mirror_of(path)
    return found is not None and found == mirror.resolve()


def _mirror_of(path: Path) -> Path | None:
    """The common git dir a worktree's .git file points into, if it is one."""
    dotgit = path / ".git"
    if not dotgit.is_file() or dotgit.is_symlink():
        return None
    text = dotgit.read_text(errors="replace").strip()
    if not text.startswith("gitdir:"):
        return None
    gitdir = Path(text.split(":", 1)[1].strip())
    commondir = gitdir / "commondir"
    if not commondir.is_file():
        return None
    return (gitdir / commondir.read_text().strip()).resolve()


def _credential_args(user: str | None, password: str | None) -> tuple[list[str], dict[str, str]]:
    """Credentials for one fetch: a helper reading them from the environment (never argv or config)."""
    if user is None and password is None:
        return [], {}
    env = {"NIGHTSHIFT_GIT_USERNAME": user or "", "NIGHTSHIFT_GIT_PASSWORD": password or ""}
    return ["-c", "credential.helper=", "-c", f"credential.helper={_CREDENTIAL_HELPER}"], env


def _git_paths(cwd: Path) -> GitPaths:
    """A mirror is its own git dir; a worktree's git dir is read from its `.git` link file."""
    dotgit = cwd / ".git"
    if dotgit.is_file() and not dotgit.is_symlink():
        text = dotgit.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            return GitPaths(git_dir=Path(text.split(":", 1)[1].strip()), work_tree=cwd)
    if dotgit.exists() or dotgit.is_symlink():
        raise WorkspaceError(f"{dotgit} is not a worktree link Nightshift made")
    return GitPaths(git_dir=cwd)


def remove_planted_git(worktree: Path) -> list[str]:
    """Delete every `.git` below the worktree root other than its own link file; returns what went."""
    planted = nested_git_paths(worktree)
    for rel in planted:
        log.warning("removing a .git the agent planted at %s in %s", rel, worktree)
        _rmtree(worktree / rel)
    return planted


def _make_writable(root: Path) -> None:
    """Give the owner rwx on every folder below root (an agent may have left 0500 or 0000 folders):
    a folder must be writable to empty it and readable to list it."""
    stack = [root]
    while stack:
        folder = stack.pop()
        with contextlib.suppress(OSError):
            os.chmod(folder, stat.S_IRWXU, follow_symlinks=False)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        stack.extend(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))


def _rmtree(path: Path) -> None:
    """Remove a file, link or folder tree, whatever permissions the agent left on it."""
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(OSError):
            os.chmod(path.parent, stat.S_IRWXU, follow_symlinks=False)
        path.unlink()
    elif path.exists():
        try:
            shutil.rmtree(path)
        except OSError:
            _make_writable(path)
            shutil.rmtree(path)


@dataclass(frozen=True)
class RemoteHead:
    """The head commit of a branch on the forge, as the mirror fetched it."""

    sha: str
    author_email: str
    message: str
