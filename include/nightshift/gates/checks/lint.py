"""lint: ruff on the changed Python files, counting only the findings the change introduced.

Both sides are linted under the BASE's ruff configuration (a change cannot switch rules off for itself)
with `--ignore-noqa` (nor hide a finding behind a new `# noqa`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from nightshift.gates.checks import CheckContext, CheckOutcome, flagged
from nightshift.gates.checks.findings import Finding, introduced, views, with_content
from nightshift.gates.diff import show_text
from nightshift.gates.report import Flag

NAME = "lint"
CONFIG_FILES = ("ruff.toml", ".ruff.toml", "pyproject.toml")
MAX_FLAGS = 30


def _base_config(ctx: CheckContext) -> str | None:
    for name in CONFIG_FILES:
        text = show_text(ctx.repo, ctx.diff.base, name)
        if text is None:
            continue
        if name != "pyproject.toml" or "[tool.ruff" in text:
            return name
    return None


def ruff(
    folder: Path, files: list[str], config: str | None, select: list[str] | None, timeout: float
) -> list[Finding]:
    args = [
        sys.executable,
        "-m",
        "ruff",
        "check",
        "--output-format",
        "json",
        "--no-cache",
        "--ignore-noqa",
        "--exit-zero",
        "--no-fix",
    ]
    if select:
        args += ["--isolated", "--select", ",".join(select)]
    elif config:
        args += ["--config", str(folder / config)]
    else:
        args += ["--isolated"]
    proc = subprocess.run(
        [*args, "--", *files],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ruff exited with {proc.returncode}: {proc.stderr.strip()[-300:]}")
    out = []
    for item in json.loads(proc.stdout or "[]"):
        name = str(Path(item["filename"]).resolve().relative_to(folder.resolve()))
        row = (item.get("location") or {}).get("row") or 0
        out.append(
            Finding(name, int(row), str(item.get("code") or "syntax-error"), str(item.get("message", "")))
        )
    return with_content(out, folder)


def check_lint(ctx: CheckContext) -> CheckOutcome:
    files = [f.path for f in ctx.diff.files if f.regular_at_head and f.path.endswith(".py")]
    if not files:
        return flagged(NAME, [], "no Python file changed", files=0)
    deadline = time.monotonic() + ctx.config.timeouts.lint
    config = _base_config(ctx)
    base_dir, head_dir = views(
        ctx.repo, ctx.diff.base, ctx.diff.head, files, ctx.scratch / "lint", [config] if config else []
    )
    select = ctx.config.lint.select
    head = ruff(head_dir, files, config, select, deadline - time.monotonic())
    base_files = [p for p in files if (base_dir / p).is_file()]
    # Nothing at the head means nothing introduced: the base run would only be subtracted from nothing.
    base = (
        ruff(base_dir, base_files, config, select, deadline - time.monotonic()) if base_files and head else []
    )
    new = introduced(head, base)
    flags = [
        Flag(kind="lint", file=f.file, line=f.line, rule=f.rule, message=f"{f.rule} {f.message}"[:300])
        for f in new[:MAX_FLAGS]
    ]
    rules = (
        f"the base's {config}" if config and not select else ("selected rules" if select else "ruff defaults")
    )
    reason = (
        f"{len(new)} finding(s) introduced in {len(files)} file(s) ({rules})"
        if new
        else f"no finding introduced in {len(files)} file(s) ({rules})"
    )
    return flagged(
        NAME, flags, reason, files=len(files), introduced=len(new), at_head=len(head), at_base=len(base)
    )
