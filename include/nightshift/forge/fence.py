"""The pre-push fence: checks on the real diff (base...commit), not on the files an agent declared.

Before anything is pushed (and again at the gates, which call the same functions) the commit is read
from the object store only, with the hardened git runner, and every finding names its file:

- protected paths: CI config, CODEOWNERS, submodule and attribute files, hooks and hook managers, and
  the agent's and Nightshift's own config. Globs are anchored at the repository root; `**` spans
  folders, `*` stays within one; added, changed and deleted paths all count;
- secrets on added lines only, with detect-secrets' regex detectors (GitLab, GitHub, AWS, private
  keys, JWTs, Slack, Stripe, npm, PyPI, OpenAI, basic-auth URLs ...). The entropy and keyword plugins
  are off (hashes, lock files and `password = get_password()` would drown reviewers), and so are the
  filters: an agent that writes `# pragma: allowlist secret` next to a token must not silence it;
- gitlinks (mode 160000: a submodule an agent adds or moves), binary files, files over a size and a
  total of added lines over a limit.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nightshift.forge.git import GITLINK_MODE, diff_raw, resolve_commit, run_git
from nightshift.globs import glob_regex

FenceKind = Literal["protected_path", "secret", "gitlink", "binary", "size"]

#: Repository-relative globs no agent change may touch without a human (see the module docstring).
DEFAULT_PROTECTED_PATHS: list[str] = [
    # CI: GitLab runs it with the project's variables before anyone looks
    ".gitlab-ci.yml",
    "**/.gitlab-ci.yml",
    "**/*.gitlab-ci.yml",
    ".gitlab-ci/**",
    ".gitlab/**",  # CODEOWNERS, ci includes, merge request templates, agent config
    ".github/**",
    ".circleci/**",
    "Jenkinsfile",
    ".travis.yml",
    # who approves
    "CODEOWNERS",
    "docs/CODEOWNERS",
    # what git itself runs or fetches
    ".gitmodules",
    "**/.gitmodules",
    ".gitattributes",
    "**/.gitattributes",
    ".githooks/**",
    ".husky/**",
    ".pre-commit-config.yaml",
    ".pre-commit-hooks.yaml",
    "lefthook.yml",
    ".lefthook.yml",
    # Nightshift's and the agents' own config and instructions
    ".nightshift/**",
    "nightshift.yaml",
    "nightshift.yml",
    ".nightshift.yaml",
    ".nightshift.yml",
    ".claude/**",
    "CLAUDE.md",
    "AGENTS.md",
    ".codex/**",
]

#: detect-secrets plugins the fence uses: regex detectors with a recognisable token shape.
DEFAULT_SECRET_PLUGINS: list[str] = [
    "ArtifactoryDetector",
    "AWSKeyDetector",
    "AzureStorageKeyDetector",
    "BasicAuthDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "JwtTokenDetector",
    "MailchimpDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PrivateKeyDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TelegramBotTokenDetector",
    "TwilioKeyDetector",
]


class FenceFinding(BaseModel):
    """One reason not to push, naming the file (and the line, for secrets)."""

    kind: FenceKind
    file: str
    line: int | None = None
    message: str
    rule: str | None = None

    def reason(self) -> str:
        """One line for queues and tracker comments. The path is the agent's: shown escaped (no control
        or non-ASCII characters, so no line break) inside a code span (no mention or quick action)."""
        shown = json.dumps(self.file)[1:-1].replace("`", "\\u0060")
        where = f"`{shown}`" + (f" line {self.line}" if self.line is not None else "")
        return f"{self.kind} {where}: {self.message}"


class FencePolicy(BaseModel):
    """Configured under `forge.fence` in nightshift.yaml; the defaults are the production ones."""

    model_config = ConfigDict(extra="forbid")

    protected_paths: list[str] = Field(default_factory=lambda: list(DEFAULT_PROTECTED_PATHS))
    #: Largest file (bytes) a change may add or grow to.
    max_file_bytes: int = Field(default=1024 * 1024, gt=0)
    #: Most lines a change may add in total (a runaway agent, vendored code, generated files).
    max_added_lines: int = Field(default=5000, gt=0)
    allow_binary: bool = False
    secret_plugins: list[str] = Field(default_factory=lambda: list(DEFAULT_SECRET_PLUGINS))


# ------------------------------------------------------------------------------------- protected paths
def _glob_regex(pattern: str) -> re.Pattern[str]:
    return glob_regex(pattern.strip().lstrip("/"))


def protected_match(path: str, patterns: Iterable[str]) -> str | None:
    """The first pattern that protects `path`, if any."""
    for pattern in patterns:
        if _glob_regex(pattern).match(path):
            return pattern
    return None


def protected_path_findings(paths: Iterable[str], policy: FencePolicy) -> list[FenceFinding]:
    findings = []
    for path in sorted(set(paths)):
        rule = protected_match(path, policy.protected_paths)
        if rule is not None:
            findings.append(
                FenceFinding(
                    kind="protected_path",
                    file=path,
                    message=f"changes a protected path (rule {rule!r}); a human must make this change",
                    rule=rule,
                )
            )
    return findings


# ------------------------------------------------------------------------------------- secrets
def _unquote(name: str) -> str:
    """A path as git prints it in a diff header (C-quoted when it holds unusual bytes)."""
    if not (name.startswith('"') and name.endswith('"')):
        return name
    raw = name[1:-1].encode("latin-1", errors="backslashreplace").decode("unicode_escape")
    return raw.encode("latin-1", errors="replace").decode("utf-8", errors="replace")


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def added_lines(diff: str) -> Iterator[tuple[str, int, str]]:
    """(file, line number in the new file, text) of every added line of a unified diff."""
    path: str | None = None
    line_no = 0
    in_hunk = False
    for raw in diff.split("\n"):
        if raw.startswith("diff --git "):
            path, in_hunk = None, False
        elif not in_hunk and raw.startswith("+++ "):
            target = raw[4:]
            target = _unquote(target)
            path = None if target == "/dev/null" else target[2:] if target.startswith("b/") else target
        elif (m := _HUNK.match(raw)) is not None:
            line_no, in_hunk = int(m.group(1)), True
        elif in_hunk and path is not None:
            if raw.startswith("+"):
                yield path, line_no, raw[1:]
                line_no += 1
            elif raw.startswith(" "):
                line_no += 1


@functools.lru_cache(maxsize=8)
def _plugins(names: tuple[str, ...]) -> tuple[Any, ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    mapping: dict[str, Any] = dict(get_mapping_from_secret_type_to_class())
    by_name: dict[str, Any] = {plugin.__name__: plugin for plugin in mapping.values()}
    unknown = sorted(set(names) - set(by_name))
    if unknown:
        raise ValueError(f"forge.fence.secret_plugins: unknown detect-secrets plugin(s) {', '.join(unknown)}")
    return tuple(by_name[name]() for name in names)


def scan_added_lines(
    lines: Iterable[tuple[str, int, str]], plugins: Iterable[str] = DEFAULT_SECRET_PLUGINS
) -> list[FenceFinding]:
    """Secrets in (file, line, text) triples; one finding per (file, line, detector)."""
    detectors = _plugins(tuple(plugins))
    seen: set[tuple[str, int, str]] = set()
    findings: list[FenceFinding] = []
    for path, line_no, text in lines:
        for detector in detectors:
            found = detector.analyze_line(filename=path, line=text, line_number=line_no)
            for secret in found:
                key = (path, line_no, secret.type)
                if key in seen:
                    continue
                seen.add(key)
                findings.append(
                    FenceFinding(
                        kind="secret",
                        file=path,
                        line=line_no,
                        message=f"added line holds what looks like a {secret.type} (detect-secrets)",
                        rule=type(detector).__name__,
                    )
                )
    return findings


def secret_findings(
    repo: Path, base: str, head: str, plugins: Iterable[str] = DEFAULT_SECRET_PLUGINS
) -> list[FenceFinding]:
    """detect-secrets on the lines `base...head` adds, with file and line."""
    base, head = resolve_commit(repo, base), resolve_commit(repo, head)
    diff = run_git(
        [
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "--no-color",
            "--unified=0",
            "--no-renames",
            "--ignore-submodules=all",
            f"{base}...{head}",
            "--",
        ],
        repo,
        objects_only=True,
    ).stdout
    return scan_added_lines(added_lines(diff), plugins)


# ------------------------------------------------------------------------------------- everything
def _blob_sizes(repo: Path, shas: list[str]) -> dict[str, int]:
    if not shas:
        return {}
    out = run_git(
        ["cat-file", "--batch-check=%(objectname) %(objectsize)"],
        repo,
        objects_only=True,
        input_text="\n".join(shas) + "\n",
    ).stdout
    sizes = {}
    for line in out.splitlines():
        sha, _, size = line.partition(" ")
        if size.isdigit():
            sizes[sha] = int(size)
    return sizes


def check_diff(repo: Path, base: str, head: str, policy: FencePolicy) -> list[FenceFinding]:
    """Every finding of the fence on `base...head` (empty: safe to push). `repo` is a work tree or a
    git dir; only its object store is read. Refs resolve as in the workspace mirror: the forge's
    branch (refs/remotes/origin/<ref>) first, then a tag, then the name itself."""
    base, head = resolve_commit(repo, base), resolve_commit(repo, head)
    changes = diff_raw(repo, base, head)
    findings = protected_path_findings((c.path for c in changes), policy)
    kept = [c for c in changes if c.status != "D"]
    for change in kept:
        if change.new_mode == GITLINK_MODE:
            findings.append(
                FenceFinding(
                    kind="gitlink",
                    file=change.path,
                    message="adds or moves a gitlink (submodule entry)",
                    rule="mode 160000",
                )
            )
    blobs = [c for c in kept if c.new_mode != GITLINK_MODE]
    sizes = _blob_sizes(repo, sorted({c.new_sha for c in blobs}))
    for change in blobs:
        size = sizes.get(change.new_sha, 0)
        if size > policy.max_file_bytes:
            findings.append(
                FenceFinding(
                    kind="size",
                    file=change.path,
                    message=f"file is {size} bytes, over the {policy.max_file_bytes}-byte limit",
                    rule="max_file_bytes",
                )
            )
    numstat = run_git(
        [
            "diff",
            "--numstat",
            "-z",
            "--no-renames",
            "--no-ext-diff",
            "--no-textconv",
            "--ignore-submodules=all",
            f"{base}...{head}",
            "--",
        ],
        repo,
        objects_only=True,
    ).stdout
    total_added = 0
    kept_paths = {c.path for c in kept}
    for entry in numstat.split("\0"):
        added, _, rest = entry.partition("\t")
        deleted, _, path = rest.partition("\t")
        if not path:
            continue
        if added == "-" and deleted == "-":
            if not policy.allow_binary and path in kept_paths:
                findings.append(
                    FenceFinding(
                        kind="binary", file=path, message="adds or changes a binary file", rule="allow_binary"
                    )
                )
        elif added.isdigit():
            total_added += int(added)
    if total_added > policy.max_added_lines:
        findings.append(
            FenceFinding(
                kind="size",
                file="*",
                message=f"adds {total_added} lines, over the {policy.max_added_lines}-line limit",
                rule="max_added_lines",
            )
        )
    findings += secret_findings(repo, base, head, policy.secret_plugins)
    return findings
