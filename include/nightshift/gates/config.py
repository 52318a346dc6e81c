"""Gates configuration: the `gates:` section of the Nightshift config, plus a repository-local file.

Where settings come from, in order (later wins):
1. the defaults below;
2. the deployment config's `gates:` section (nightshift/defaults/nightshift.yaml or NIGHTSHIFT_CONFIG), and
   its `gates.repositories.<group/project>` block for the ticket's repository;
3. the repository's own `.nightshift/gates.yaml`, read from the BASE revision (the target branch),
   never from the merge request's head: a change cannot weaken the gates that judge it. The file may
   only set `tests`, the toolchain's `setup_command` and `lock_files`, `lint`, and the scope's
   `test_globs`, `code_globs` and extra `protected_paths` (added to the deployment's, never replacing
   them). Weights, caps, timeouts, limits, host folders and allowed hosts stay with the operator.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nightshift.defaults import default_path
from nightshift.models import check_repo_glob
from nightshift.safe_yaml import load_yaml_text

REPO_LOCAL_FILE = ".nightshift/gates.yaml"
DEFAULT_SEMGREP_RULES = default_path("semgrep")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TestsConfig(_Model):
    """How to run the repository's tests. Commands run with /bin/sh -c inside the sandbox, network off,
    in a fresh checkout; `NIGHTSHIFT_JUNIT_XML` names the file the suite must write JUnit XML to."""

    command: str | None = None
    #: Re-runs chosen tests on the base to tell pre-existing failures from new ones. `{tests}` becomes
    #: the shell-quoted test ids (pytest node ids, `path.py::Class::name`). Without it, the whole
    #: `command` runs on the base when the head fails.
    rerun_command: str | None = None
    memory_mb: int = Field(default=2048, ge=0)
    max_processes: int = Field(default=256, ge=0)


class ToolchainConfig(_Model):
    """The environment the tests run with (a venv, node_modules...), mounted read-only, its bin/ first
    on PATH. Either a prebuilt `path`, or built by `setup_command` (in the sandbox, reaching only
    `allowed_hosts`, once per hash of the `lock_files` at the base) into `cache_dir`/<hash>;
    `$NIGHTSHIFT_TOOLCHAIN` names that folder."""

    path: str | None = None
    setup_command: str | None = None
    lock_files: list[str] = Field(default_factory=list)
    cache_dir: str | None = None
    #: The only hosts the setup command may reach (host:port, `*.example.com:443`), through the egress
    #: proxy; nothing else, and never a private or loopback address.
    allowed_hosts: list[str] = Field(default_factory=lambda: ["pypi.org:443", "files.pythonhosted.org:443"])


class Timeouts(_Model):
    """Seconds per check. A check past its timeout is `not_run` (the tests: `failed`, a hung suite is
    the change's problem until the base shows otherwise)."""

    tests: float = Field(default=900, gt=0)
    toolchain_setup: float = Field(default=1200, gt=0)
    test_changes: float = Field(default=60, gt=0)
    lint: float = Field(default=120, gt=0)
    security: float = Field(default=300, gt=0)
    secrets: float = Field(default=120, gt=0)
    scope: float = Field(default=120, gt=0)


class Weights(_Model):
    """Points per check; the score is the share of the counted checks' weights earned, times 100.
    Security and secrets carry no weight: they cap the score instead (Caps)."""

    tests: float = Field(default=40, ge=0)
    test_changes: float = Field(default=15, ge=0)
    lint: float = Field(default=10, ge=0)
    scope: float = Field(default=20, ge=0)
    pipeline: float = Field(default=15, ge=0)


class Credit(_Model):
    """Share of a failed check's weight still earned when its only flags are these (others earn 0)."""

    no_tests: float = Field(default=0.5, ge=0, le=1)
    out_of_scope: float = Field(default=0.25, ge=0, le=1)
    #: lint earns 1 - per_lint_finding x findings introduced (not below 0).
    per_lint_finding: float = Field(default=0.25, ge=0, le=1)


class Caps(_Model):
    """The highest score a report can have while it carries such a flag."""

    secret: int = Field(default=40, ge=0, le=100)
    security_high: int = Field(default=60, ge=0, le=100)  # a high or critical security finding
    security: int = Field(default=80, ge=0, le=100)  # a low or medium one
    protected_path: int = Field(default=50, ge=0, le=100)
    empty_change: int = Field(default=20, ge=0, le=100)


DEFAULT_TEST_GLOBS = [
    "tests/**",
    "test/**",
    "**/tests/**",
    "**/test_*.py",
    "**/*_test.py",
    "**/conftest.py",
    "**/*_test.go",
    "**/*.test.*",
    "**/*.spec.*",
    "**/__tests__/**",
]
DEFAULT_CODE_GLOBS = [
    f"**/*.{ext}"
    for ext in ("py", "go", "js", "jsx", "ts", "tsx", "java", "kt", "rb", "rs", "c", "cc", "cpp", "h", "cs")
]


class ScopeConfig(_Model):
    """Protected paths, binaries, sizes and secrets go through the pre-push fence's own rules
    (nightshift.forge.fence): the same verdict at push time and at the gates."""

    #: None: the fence's defaults (CI config, CODEOWNERS, hooks, submodules, agent and Nightshift config).
    protected_paths: list[str] | None = None
    #: Added to protected_paths (a repository's `.nightshift/gates.yaml` can only add).
    extra_protected_paths: list[str] = Field(default_factory=list)
    max_file_bytes: int = Field(default=1024 * 1024, gt=0)
    #: More added lines than this is `out_of_scope` (a ticket is not a rewrite).
    max_added_lines: int = Field(default=2000, gt=0)
    allow_binary: bool = False
    #: None: the fence's detect-secrets plugins.
    secret_plugins: list[str] | None = None
    #: A file beside an estimated file (same folder) is in scope; so is every test file.
    same_directory_in_scope: bool = True
    test_globs: list[str] = Field(default_factory=lambda: list(DEFAULT_TEST_GLOBS))
    code_globs: list[str] = Field(default_factory=lambda: list(DEFAULT_CODE_GLOBS))


class LintConfig(_Model):
    """ruff on the changed Python files. `select` overrides the rules; otherwise the base's ruff config
    (ruff.toml, .ruff.toml or pyproject.toml with [tool.ruff]) applies to both sides, else ruff's
    defaults. `# noqa` added by the change does not hide a finding (--ignore-noqa on both sides)."""

    select: list[str] | None = None


class SecurityConfig(_Model):
    bandit: bool = True
    #: B101 (assert) is how Python tests are written; counting it would flag every new test.
    bandit_skips: list[str] = Field(default_factory=lambda: ["B101"])
    #: Findings below this severity (or confidence) are counted in details, not flagged.
    min_severity: Literal["low", "medium", "high"] = "medium"
    min_confidence: Literal["low", "medium", "high"] = "medium"
    semgrep: bool = True
    #: Local rule files (a folder or a file); never the registry.
    semgrep_rules: str = str(DEFAULT_SEMGREP_RULES)
    semgrep_executable: str | None = None  # default: the pinned tool venv (gates install-tools)


class SandboxConfig(_Model):
    bwrap_path: str = "/usr/bin/bwrap"
    #: Only for machines without bubblewrap, and only when the operator accepts running tests unisolated.
    unsandboxed: bool = False


class RepoGates(_Model):
    """What a repository-local `.nightshift/gates.yaml` may set."""

    tests: TestsConfig | None = None
    toolchain: _RepoToolchain | None = None
    lint: LintConfig | None = None
    scope: _RepoScope | None = None


class _RepoToolchain(_Model):
    """A repository says how its toolchain is built; where it lives (a host folder to mount, the cache)
    and which hosts the build may reach stay with the operator."""

    setup_command: str | None = None
    lock_files: list[str] | None = None


class _RepoScope(_Model):
    test_globs: list[str] | None = None
    code_globs: list[str] | None = None
    protected_paths: list[str] = Field(default_factory=list)


RepoGates.model_rebuild()


class GatesConfig(_Model):
    tests: TestsConfig = Field(default_factory=TestsConfig)
    toolchain: ToolchainConfig = Field(default_factory=ToolchainConfig)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    weights: Weights = Field(default_factory=Weights)
    credit: Credit = Field(default_factory=Credit)
    caps: Caps = Field(default_factory=Caps)
    scope: ScopeConfig = Field(default_factory=ScopeConfig)
    lint: LintConfig = Field(default_factory=LintConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    #: Per-repository overrides of the deployment (any key above), by GitLab project path.
    repositories: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def for_repository(self, repository: str | None) -> GatesConfig:
        """This config with the deployment's block for `repository` merged in."""
        block = self.repositories.get(repository or "")
        if not block:
            return self
        try:
            return GatesConfig.model_validate(_deep_merge(self.model_dump(), block))
        except ValidationError as exc:
            raise ValueError(f"gates.repositories[{repository!r}]: {exc}") from exc

    def fence_policy(self) -> Any:
        """The fence policy these settings describe (nightshift.forge.fence.FencePolicy)."""
        from nightshift.forge.fence import DEFAULT_PROTECTED_PATHS, FencePolicy

        scope = self.scope
        base = list(DEFAULT_PROTECTED_PATHS) if scope.protected_paths is None else list(scope.protected_paths)
        extra: dict[str, Any] = {}
        if scope.secret_plugins is not None:
            extra["secret_plugins"] = scope.secret_plugins
        return FencePolicy(
            protected_paths=base + [p for p in scope.extra_protected_paths if p not in base],
            max_file_bytes=scope.max_file_bytes,
            max_added_lines=scope.max_added_lines,
            allow_binary=scope.allow_binary,
            **extra,
        )

    def with_repo_local(self, text: str | None, *, source: str = REPO_LOCAL_FILE) -> GatesConfig:
        """This config with a repository-local gates file (its text at the base) merged in."""
        if not text:
            return self
        try:
            local = RepoGates.model_validate(load_yaml_text(text, source=source) or {})
        except (ValidationError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc
        data = self.model_dump()
        overrides: dict[str, Any] = local.model_dump(exclude_none=True, exclude={"scope"})
        merged = _deep_merge(data, overrides)
        if local.scope is not None:
            for name in ("test_globs", "code_globs"):
                value = getattr(local.scope, name)
                if value is not None:
                    merged["scope"][name] = value
            for pattern in local.scope.protected_paths:
                check_repo_glob(pattern)
                if pattern not in merged["scope"]["extra_protected_paths"]:
                    merged["scope"]["extra_protected_paths"].append(pattern)
        return GatesConfig.model_validate(merged)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
