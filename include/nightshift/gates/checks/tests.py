"""tests: the repository's own suite, in the sandbox (no network at all), on a fresh checkout.

Results come from the JUnit XML the suite writes to $NIGHTSHIFT_JUNIT_XML. When tests fail at the head,
they are run again on the base: a test that fails there too was already broken, and is reported without
being counted against the change. A suite that hangs past its timeout fails the check.
"""

from __future__ import annotations

import re
import shlex
import time
import xml.etree.ElementTree as ET  # the sandbox's output; expat refuses entity expansion bombs
from dataclasses import dataclass, field
from pathlib import Path

from nightshift.agents.sandbox import (
    SANDBOX_HOME,
    SANDBOX_PATH,
    SANDBOX_TMP,
    Mount,
    ProcessLimits,
    Sandbox,
    SandboxSpec,
    SandboxUnavailable,
    safe_read,
)
from nightshift.gates.checks import CheckContext, CheckOutcome, flagged
from nightshift.gates.report import Flag
from nightshift.gates.toolchain import ToolchainError, ensure_toolchain, toolchain_mounts

NAME = "tests"
_IO = Path("/nightshift/out")
MAX_JUNIT_BYTES = 20 * 1024 * 1024
MAX_FLAGS = 20


@dataclass(frozen=True)
class JUnitCase:
    classname: str
    name: str
    outcome: str  # passed, failed, skipped
    message: str = ""

    @property
    def id(self) -> str:
        return f"{self.classname}::{self.name}"


@dataclass
class SuiteRun:
    exit_code: int | None
    timed_out: bool
    cases: list[JUnitCase] = field(default_factory=list)
    junit_found: bool = False
    output_tail: str = ""
    duration_s: float = 0.0

    @property
    def failing(self) -> dict[str, JUnitCase]:
        return {c.id: c for c in self.cases if c.outcome == "failed"}


def parse_junit(data: bytes) -> list[JUnitCase]:
    """Test cases from JUnit XML (pytest, surefire, go-junit-report, jest-junit all write this)."""
    root = ET.fromstring(data)  # noqa: S314
    cases = []
    for case in root.iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
                message = (child.get("message") or child.text or "").strip()
                break
            if child.tag == "skipped":
                outcome = "skipped"
        cases.append(JUnitCase(case.get("classname", ""), case.get("name", ""), outcome, message[:500]))
    return cases


def pytest_node_id(case: JUnitCase, tree: Path) -> tuple[str, str | None]:
    """(node id, file) of a JUnit case: the longest dotted prefix of the classname that is a file."""
    parts = [p for p in case.classname.split(".") if p]
    for i in range(len(parts), 0, -1):
        candidate = "/".join(parts[:i]) + ".py"
        path = tree / candidate
        if path.is_file() and not path.is_symlink():
            return "::".join([candidate, *parts[i:], case.name]), candidate
    return case.id, None


def _line_of(tree: Path, file: str | None, name: str) -> int | None:
    if file is None:
        return None
    data = safe_read(tree / file, 2_000_000)
    if data is None:
        return None
    bare = re.escape(name.split("[", 1)[0])
    for number, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
        if re.match(rf"\s*(async\s+)?def\s+{bare}\s*\(", line):
            return number
    return None


def run_suite(
    ctx: CheckContext, sandbox: Sandbox, side: str, command: str, toolchain: Path | None, timeout: float
) -> SuiteRun:
    tree = ctx.tree(side)
    runs = sorted(ctx.scratch.glob(f"junit-{side}-*"))
    out = ctx.scratch / f"junit-{side}-{len(runs)}"
    out.mkdir(parents=True)
    sandboxed = not sandbox.unsandboxed
    junit = (_IO if sandboxed else out) / "junit.xml"
    home = SANDBOX_HOME if sandboxed else out / "home"
    tmp = SANDBOX_TMP if sandboxed else out / "tmp"
    if not sandboxed:
        home.mkdir()
        tmp.mkdir()
    path = f"{toolchain}/bin:{SANDBOX_PATH}" if toolchain else SANDBOX_PATH
    env = {
        "PATH": path,
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "CI": "true",
        "NO_COLOR": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NIGHTSHIFT_JUNIT_XML": str(junit),
    }
    if toolchain:
        env["NIGHTSHIFT_TOOLCHAIN"] = str(toolchain)
    mounts = toolchain_mounts(toolchain) if toolchain else []
    if sandboxed:
        mounts.append(Mount(out, dest=_IO, writable=True))
    cfg = ctx.config.tests
    outcome = sandbox.run(
        SandboxSpec(
            argv=["/bin/sh", "-c", command],
            cwd=tree,
            env=env,
            limits=ProcessLimits(
                timeout_seconds=max(timeout, 1.0),
                grace_seconds=3,
                memory_mb=cfg.memory_mb,
                max_processes=cfg.max_processes,
            ),
            workspace=tree,
            scratch_dir=ctx.scratch / f"sandbox-{side}",
            mounts=mounts,
        )
    )
    data = safe_read(out / "junit.xml", MAX_JUNIT_BYTES)
    cases: list[JUnitCase] = []
    if data and len(data) <= MAX_JUNIT_BYTES:
        try:
            cases = parse_junit(data)
        except ET.ParseError:
            cases = []
    tail = (outcome.stdout + b"\n" + outcome.stderr).decode(errors="replace").strip()[-800:]
    return SuiteRun(
        exit_code=outcome.exit_code,
        timed_out=outcome.timed_out,
        cases=cases,
        junit_found=data is not None,
        output_tail=tail,
        duration_s=outcome.duration_seconds,
    )


def check_tests(ctx: CheckContext) -> CheckOutcome:
    cfg = ctx.config.tests
    if not cfg.command:
        return CheckOutcome.not_run(NAME, "no test command is configured for this repository (tests.command)")
    sandbox = Sandbox(ctx.config.sandbox.bwrap_path, unsandboxed=ctx.config.sandbox.unsandboxed)
    try:
        sandbox.check()
    except SandboxUnavailable as exc:
        return CheckOutcome.not_run(NAME, f"the sandbox cannot start: {exc}")
    deadline = time.monotonic() + ctx.config.timeouts.tests
    try:
        toolchain = ctx.toolchain or ensure_toolchain(
            ctx.repo, ctx.diff.base, ctx.config, sandbox, ctx.tree("base"), ctx.scratch
        )
    except ToolchainError as exc:
        return CheckOutcome.not_run(NAME, str(exc))
    head = run_suite(ctx, sandbox, "head", cfg.command, toolchain, deadline - time.monotonic())
    counts = {
        "tests": len(head.cases),
        "failed": len(head.failing),
        "skipped": sum(c.outcome == "skipped" for c in head.cases),
        "exit_code": head.exit_code,
    }
    if head.timed_out:
        flag = Flag(
            kind="tests_failed", message=f"the test suite timed out after {ctx.config.timeouts.tests:g}s"
        )
        return flagged(NAME, [flag], flag.message, **counts)
    failing = head.failing
    if not failing:
        if head.exit_code == 0:
            if not head.junit_found:
                return flagged(NAME, [], "the test command passed (it wrote no JUnit XML)", **counts)
            return flagged(NAME, [], f"{len(head.cases)} tests, none failed", **counts)
        flag = Flag(
            kind="tests_failed",
            message=f"the test command exited with {head.exit_code} and reported no failing test: "
            f"{head.output_tail[-300:]}",
        )
        return flagged(NAME, [flag], f"the test command exited with {head.exit_code}", **counts)

    base_failing = _failing_on_base(ctx, sandbox, failing, toolchain, deadline - time.monotonic())
    introduced = {k: v for k, v in failing.items() if k not in base_failing}
    pre_existing = len(failing) - len(introduced)
    counts["pre_existing_failures"] = pre_existing
    counts["failed"] = len(introduced)
    if not introduced:
        return flagged(
            NAME,
            [],
            f"{pre_existing} failing test(s) fail on the base too (pre-existing, not counted)",
            **counts,
        )
    head_tree = ctx.tree("head")
    flags = []
    for case in list(introduced.values())[:MAX_FLAGS]:
        node, file = pytest_node_id(case, head_tree)
        flags.append(
            Flag(
                kind="tests_failed",
                file=file,
                line=_line_of(head_tree, file, case.name),
                message=f"{node} failed: {case.message[:200]}".strip(),
                rule=node,
            )
        )
    reason = f"{len(introduced)} of {len(head.cases)} tests fail"
    if pre_existing:
        reason += f" ({pre_existing} more fail on the base too and are not counted)"
    return flagged(NAME, flags, reason, **counts)


def _failing_on_base(
    ctx: CheckContext, sandbox: Sandbox, failing: dict[str, JUnitCase], toolchain: Path | None, timeout: float
) -> set[str]:
    """The ids among `failing` that fail on the base as well (empty when that cannot be told)."""
    if timeout < 5:
        return set()
    cfg = ctx.config.tests
    base_tree = ctx.tree("base")
    command = cfg.command or ""
    if cfg.rerun_command:
        nodes = []
        for case in failing.values():
            node, file = pytest_node_id(case, base_tree)
            if file is not None:
                nodes.append(node)
        if not nodes:
            return set()  # none of the failing tests exists on the base: all are the change's
        command = cfg.rerun_command.replace("{tests}", " ".join(shlex.quote(n) for n in nodes))
    run = run_suite(ctx, sandbox, "base", command, toolchain, timeout)
    return {k for k in run.failing if k in failing}
