"""Git on trees an agent touched: one hardened way to run it, and the pipeline's commit and push.

The agent writes the worktree, so anything git would *discover* there is attacker-controlled: a `.git`
planted in a subfolder (or a submodule path) carries its own config, and host git obeys it
(`filter.<x>.clean`, `core.fsmonitor`, `uploadpack`, textconv, hooks) outside the sandbox, as the
worker's user (security fact 11). So every call made here:

- names the repository explicitly (GIT_DIR + GIT_WORK_TREE, GIT_CEILING_DIRECTORIES): git never
  discovers a repository, and an object-only command gets an empty work tree, so no attribute file
  the agent wrote is read;
- runs with a fixed environment and config: no system, global or HOME config, hooks off, fsmonitor
  off, no submodule recursion, no external diff or textconv, no pager, `protocol.allow` only for the
  remote's own scheme (`-c` values reach any child git too, through GIT_CONFIG_PARAMETERS);
- refuses a work tree that holds a `.git` (file, folder or link) anywhere below its root other than
  its own, naming the path; commits that add or move a gitlink (mode 160000) are refused.

Only `agent/<ticket-id>` branches are pushed, always with --force-with-lease against the commit the
pipeline expects, and credentials travel in git's environment, never in a URL or on a command line.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from nightshift.models import check_ticket_id

GIT_TIMEOUT = 300
GITLINK_MODE = "160000"

#: Config every hardened call carries on its command line (it outranks repository config).
HARDENED_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("core.untrackedCache", "false"),
    ("core.attributesFile", "/dev/null"),
    ("core.excludesFile", "/dev/null"),
    ("core.pager", "cat"),
    ("core.askPass", "/bin/false"),
    ("core.sshCommand", "/bin/false"),
    ("core.gitProxy", ""),
    ("core.quotePath", "false"),
    ("credential.helper", ""),
    ("submodule.recurse", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("push.recurseSubmodules", "no"),
    ("diff.ignoreSubmodules", "all"),
    ("status.submoduleSummary", "false"),
    ("safe.bareRepository", "explicit"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("init.templateDir", ""),
    ("protocol.allow", "never"),
)

_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR")


class GitError(RuntimeError):
    """A git command failed; the message carries git's own words (credentials redacted)."""


class NestedRepositoryError(GitError):
    """The work tree holds a `.git` that is not its own: host git would obey its config."""

    def __init__(self, work_tree: Path, paths: list[str]) -> None:
        self.paths = paths
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        super().__init__(
            f"refusing to run git in {work_tree}: it contains a nested .git at {shown} "
            "(a planted repository whose config host git would obey)"
        )


class GitlinkError(GitError):
    """A commit would add or move a gitlink (a submodule entry): refused."""


@dataclass(frozen=True)
class GitAuth:
    """HTTP credentials for the forge, given to git as an extra header through its environment."""

    token: str
    username: str = "oauth2"

    def env(self) -> dict[str, str]:
        basic = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        }

    def redact(self, text: str) -> str:
        basic = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
        return text.replace(self.token, "[REDACTED]").replace(basic, "[REDACTED]")


def agent_branch(ticket_id: str) -> str:
    return f"agent/{check_ticket_id(ticket_id)}"


# -------------------------------------------------------------------------------- locating a repository
@dataclass(frozen=True)
class GitPaths:
    """A repository named explicitly: its git dir and (unless bare) its work tree."""

    git_dir: Path
    work_tree: Path | None = None


def locate(repo: Path) -> GitPaths:
    """The git dir of a work tree (`.git` folder or a linked worktree's `gitdir:` file) or a bare repo.

    Nothing is discovered upwards: `repo` itself must be the top of a work tree or a git dir."""
    repo = Path(repo).resolve()
    dotgit = repo / ".git"
    if dotgit.is_symlink():
        raise GitError(f"{dotgit} is a symlink; refusing to follow it")
    if dotgit.is_dir():
        return GitPaths(git_dir=dotgit, work_tree=repo)
    if dotgit.is_file():
        text = dotgit.read_text(errors="replace").strip()
        if not text.startswith("gitdir:"):
            raise GitError(f"{dotgit} is not a git worktree link")
        target = Path(text.split(":", 1)[1].strip())
        git_dir = (target if target.is_absolute() else repo / target).resolve()
        if not (git_dir / "HEAD").is_file():
            raise GitError(f"{dotgit} points at {git_dir}, which is not a git dir")
        return GitPaths(git_dir=git_dir, work_tree=repo)
    if (repo / "HEAD").is_file() and (repo / "objects").is_dir():
        return GitPaths(git_dir=repo)
    raise GitError(f"{repo} is neither a git work tree nor a git dir")


def nested_git_paths(work_tree: Path) -> list[str]:
    """Every `.git` (folder, file or link) below the work tree root other than the tree's own."""
    root = Path(work_tree)
    found: list[str] = []
    for current, dirs, files in os.walk(root, onerror=None, followlinks=False):
        here = Path(current)
        for name in (*dirs, *files):
            if name == ".git" and here != root:
                found.append((here / name).relative_to(root).as_posix())
        dirs[:] = [d for d in dirs if not (here == root and d == ".git")]
    return sorted(found)


def check_no_nested_git(work_tree: Path) -> None:
    found = nested_git_paths(work_tree)
    if found:
        raise NestedRepositoryError(work_tree, found)


def _protocols(remote: str | None) -> list[str]:
    """Only the remote's own transport: its URL scheme, or `file` for a local path."""
    if remote is None:
        return []
    if "://" in remote:
        scheme = urlsplit(remote).scheme.lower()
        return [scheme] if scheme in ("https", "http", "file") else []
    return ["file"]


def hardened_env(
    paths: GitPaths | None, *, empty_tree: Path | None = None, remote: str | None = None
) -> dict[str, str]:
    """The whole environment of a hardened git call (nothing else of the worker's is inherited)."""
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    allowed = _protocols(remote)
    env.update(
        {
            "HOME": "/nonexistent",
            "XDG_CONFIG_HOME": "/nonexistent",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_SYSTEM": "/dev/null",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_ATTR_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "/bin/false",
            "SSH_ASKPASS": "/bin/false",
            "GIT_PAGER": "cat",
            "GIT_EDITOR": "false",
            "GIT_NO_REPLACE_OBJECTS": "1",
            "GIT_PROTOCOL_FROM_USER": "0",
            # An unknown name when no transport is wanted: the list must not be empty-but-unset.
            "GIT_ALLOW_PROTOCOL": ":".join(allowed) or "nightshift-none",
        }
    )
    if paths is not None:
        env["GIT_DIR"] = str(paths.git_dir)
        tree = empty_tree or paths.work_tree
        if tree is not None:
            env["GIT_WORK_TREE"] = str(tree)
            env["GIT_CEILING_DIRECTORIES"] = str(Path(tree).parent)
    return env


def hardened_config_args(remote: str | None = None) -> list[str]:
    args: list[str] = []
    for key, value in HARDENED_CONFIG:
        args += ["-c", f"{key}={value}"]
    for scheme in _protocols(remote):
        args += ["-c", f"protocol.{scheme}.allow=always"]
    return args


def run_git(
    args: Sequence[str],
    repo: Path | None = None,
    *,
    auth: GitAuth | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    remote: str | None = None,
    objects_only: bool = False,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run git hardened. `repo` is a work tree top or a git dir (never discovered); with
    `objects_only` the command reads the object store only and sees an empty work tree (no attributes,
    no planted files); otherwise a work tree with a nested `.git` is refused. `remote` is the only
    URL transport the call may use."""
    paths = locate(repo) if repo is not None else None
    with tempfile.TemporaryDirectory(prefix="nightshift-git-") as scratch:
        empty = Path(scratch) if objects_only or (paths is not None and paths.work_tree is None) else None
        if paths is not None and paths.work_tree is not None and empty is None:
            check_no_nested_git(paths.work_tree)
        full_env = hardened_env(paths, empty_tree=empty, remote=remote)
        if auth is not None:
            full_env.update(auth.env())
        if env:
            full_env.update(env)
        cwd = (paths.work_tree if empty is None else empty) if paths is not None else Path(scratch)
        try:
            proc = subprocess.run(
                ["git", *hardened_config_args(remote), *args],
                cwd=cwd,
                env=full_env,
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT,
                input=input_text,
                stdin=None if input_text is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} timed out after {GIT_TIMEOUT}s") from None
    if check and proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip()[-2000:]
        if auth is not None:
            message = auth.redact(message)
        raise GitError(f"git {args[0]} failed: {message}")
    return proc


# -------------------------------------------------------------------------------- reading commits
@dataclass(frozen=True)
class RawChange:
    """One entry of `git diff --raw`: modes, blob ids, status letter and path."""

    old_mode: str
    new_mode: str
    old_sha: str
    new_sha: str
    status: str
    path: str


def parse_raw(output: str) -> list[RawChange]:
    """`git diff --raw -z --no-renames` output."""
    parts = output.split("\0")
    changes: list[RawChange] = []
    i = 0
    while i + 1 < len(parts):
        meta, path = parts[i], parts[i + 1]
        i += 2
        if not meta.startswith(":"):
            continue
        old_mode, new_mode, old_sha, new_sha, status = meta[1:].split(" ")[:5]
        changes.append(RawChange(old_mode, new_mode, old_sha, new_sha, status[:1], path))
    return changes


def diff_raw(repo: Path, base: str, head: str) -> list[RawChange]:
    """The changes of head against its merge base with base (`base...head`), object store only."""
    out = run_git(
        [
            "diff",
            "--raw",
            "-z",
            "--no-renames",
            "--no-abbrev",
            "--no-ext-diff",
            "--no-textconv",
            "--ignore-submodules=none",
            f"{base}...{head}",
            "--",
        ],
        repo,
        objects_only=True,
    ).stdout
    return parse_raw(out)


def gitlink_changes(changes: Iterable[RawChange]) -> list[RawChange]:
    """Changes that add or move a gitlink (a deleted submodule is not a risk)."""
    return [c for c in changes if c.new_mode == GITLINK_MODE]


# -------------------------------------------------------------------------------- committing
@dataclass(frozen=True)
class Identity:
    name: str = "Nightshift"
    email: str = "nightshift@localhost"


def commit_all(
    worktree: Path, message: str, *, when: dt.datetime, identity: Identity = Identity()
) -> str | None:
    """Stage everything the agent changed and commit; None when there is nothing to commit.

    Refuses a tree with a nested `.git` (before git reads anything) and a commit that would add or move
    a gitlink. Author and committer dates are fixed to `when` (the batch's time), so the same change on
    the same base gives the same commit id on a retry.
    """
    make_readable(worktree)
    run_git(["add", "-A", "--", "."], worktree)
    staged = parse_raw(
        run_git(
            ["diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev", "--ignore-submodules=none"],
            worktree,
        ).stdout
    )
    if not staged:
        return None
    links = gitlink_changes(staged)
    if links:
        run_git(["reset", "-q"], worktree, check=False)
        raise GitlinkError(
            f"refusing to commit in {worktree}: the change adds or moves a gitlink (submodule entry) at "
            + ", ".join(c.path for c in links)
        )
    stamp = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    env = {
        "GIT_AUTHOR_NAME": identity.name,
        "GIT_AUTHOR_EMAIL": identity.email,
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_NAME": identity.name,
        "GIT_COMMITTER_EMAIL": identity.email,
        "GIT_COMMITTER_DATE": stamp,
    }
    run_git(
        ["commit", "--no-verify", "--quiet", "--no-edit", "-F", "-"], worktree, env=env, input_text=message
    )
    return head_sha(worktree)


def make_readable(work_tree: Path) -> None:
    """Give the owner read (and, on folders, write and search) permission everywhere below the work
    tree: an agent that leaves a `chmod 0000` file or a `0500` folder must not make the commit (or the
    reset after it) fail and the retry run the agent again. Links are never followed; git records only
    the executable bit, so the commit is unchanged."""
    root = Path(work_tree)
    with contextlib.suppress(OSError):
        root.chmod(root.stat().st_mode | stat.S_IRWXU)
    for current, dirs, files in os.walk(root, topdown=True, followlinks=False):
        here = Path(current)
        for name in dirs:
            path = here / name
            if not path.is_symlink():
                with contextlib.suppress(OSError):
                    path.chmod(path.stat().st_mode | stat.S_IRWXU)
        for name in files:
            path = here / name
            if not path.is_symlink():
                with contextlib.suppress(OSError):
                    path.chmod(path.stat().st_mode | stat.S_IRUSR | stat.S_IWUSR)


def head_sha(worktree: Path) -> str:
    return run_git(["rev-parse", "--verify", "HEAD"], worktree, objects_only=True).stdout.strip()


def changed_files(worktree: Path, base: str) -> list[str]:
    return sorted({c.path for c in diff_raw(worktree, base, "HEAD")})


def status_paths(worktree: Path) -> list[str]:
    """Paths changed in the work tree (tracked changes and untracked files), hardened; submodules
    ignored. Raises NestedRepositoryError when the agent planted a `.git`."""
    out = run_git(
        [
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--ignore-submodules=all",
        ],
        worktree,
    ).stdout
    return sorted({entry[3:] for entry in out.split("\0") if len(entry) > 3})


# -------------------------------------------------------------------------------- the forge
def remote_branch_sha(remote_url: str, branch: str, auth: GitAuth | None) -> str | None:
    proc = run_git(["ls-remote", "--heads", remote_url, f"refs/heads/{branch}"], auth=auth, remote=remote_url)
    for line in proc.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def push_agent_branch(
    repo: Path,
    remote_url: str,
    ticket_id: str,
    sha: str,
    expected_remote: str | None,
    auth: GitAuth | None,
) -> None:
    """Push `sha` to agent/<ticket-id>, only if the remote branch is still at `expected_remote`.

    `repo` may be the worktree or its mirror: the push reads objects only, never the work tree."""
    branch = agent_branch(ticket_id)
    lease = f"--force-with-lease=refs/heads/{branch}:{expected_remote or ''}"
    run_git(
        [
            "push",
            "--no-verify",
            "--porcelain",
            "--no-recurse-submodules",
            lease,
            remote_url,
            f"{sha}:refs/heads/{branch}",
        ],
        repo,
        auth=auth,
        remote=remote_url,
        objects_only=True,
    )


def resolve_commit(repo: Path, ref: str) -> str:
    """A base ref as the workspace mirror knows it: the forge's branch, a tag, then a local name."""
    for candidate in (f"refs/remotes/origin/{ref}", f"refs/tags/{ref}", ref):
        proc = run_git(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}"],
            repo,
            objects_only=True,
            check=False,
        )
        if proc.returncode == 0:
            return proc.stdout.strip()
    raise GitError(f"ref {ref!r} not found in {repo}")


def keep_commit(repo: Path, name: str, sha: str) -> None:
    """Keep a recorded commit reachable under refs/nightshift/ (shared by a mirror's worktrees), so a
    retried push finds it after the worktree is reset or removed."""
    run_git(["update-ref", f"refs/nightshift/{name}", sha], repo, objects_only=True)
