"""Git operations the pipeline (never the agent) performs: commit, find the remote branch, push.

Only `agent/<ticket-id>` branches are pushed, always with --force-with-lease against the commit the
pipeline expects, and credentials travel in git's environment, never in a URL or on a command line.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from nightshift.models import check_ticket_id

GIT_TIMEOUT = 300


class GitError(RuntimeError):
    """A git command failed; the message carries git's own words (credentials redacted)."""


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


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "GIT_CONFIG_NOSYSTEM": "1"})
    return env


def run_git(
    args: list[str],
    cwd: Path | None = None,
    *,
    auth: GitAuth | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    full_env = _base_env()
    if auth is not None:
        full_env.update(auth.env())
    if env:
        full_env.update(env)
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip()
        if auth is not None:
            message = auth.redact(message)
        raise GitError(f"git {args[0]} failed: {message}")
    return proc


@dataclass(frozen=True)
class Identity:
    name: str = "Nightshift"
    email: str = "nightshift@localhost"


def commit_all(
    worktree: Path, message: str, *, when: dt.datetime, identity: Identity = Identity()
) -> str | None:
    """Stage everything the agent changed and commit; None when there is nothing to commit.

    Author and committer dates are fixed to `when` (the batch's time), so the same change on the same
    base gives the same commit id on a retry.
    """
    run_git(["add", "-A"], worktree)
    if run_git(["diff", "--cached", "--quiet"], worktree, check=False).returncode == 0:
        return None
    stamp = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    env = {
        "GIT_AUTHOR_NAME": identity.name,
        "GIT_AUTHOR_EMAIL": identity.email,
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_NAME": identity.name,
        "GIT_COMMITTER_EMAIL": identity.email,
        "GIT_COMMITTER_DATE": stamp,
    }
    msg_file = worktree.parent / f".{worktree.name}.commitmsg"
    msg_file.write_text(message, encoding="utf-8")
    try:
        run_git(
            ["-c", "core.hooksPath=/dev/null", "commit", "--no-verify", "--quiet", "-F", str(msg_file)],
            worktree,
            env=env,
        )
    finally:
        msg_file.unlink(missing_ok=True)
    return head_sha(worktree)


def head_sha(worktree: Path) -> str:
    return run_git(["rev-parse", "HEAD"], worktree).stdout.strip()


def changed_files(worktree: Path, base: str) -> list[str]:
    out = run_git(["diff", "--name-only", f"{base}...HEAD"], worktree).stdout
    return [line for line in out.splitlines() if line]


def remote_branch_sha(remote_url: str, branch: str, auth: GitAuth | None) -> str | None:
    proc = run_git(["ls-remote", "--heads", remote_url, f"refs/heads/{branch}"], auth=auth)
    for line in proc.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def push_agent_branch(
    worktree: Path,
    remote_url: str,
    ticket_id: str,
    sha: str,
    expected_remote: str | None,
    auth: GitAuth | None,
) -> None:
    """Push `sha` to agent/<ticket-id>, only if the remote branch is still at `expected_remote`."""
    branch = agent_branch(ticket_id)
    lease = f"--force-with-lease=refs/heads/{branch}:{expected_remote or ''}"
    run_git(
        ["push", "--no-verify", "--porcelain", lease, remote_url, f"{sha}:refs/heads/{branch}"],
        worktree,
        auth=auth,
    )
