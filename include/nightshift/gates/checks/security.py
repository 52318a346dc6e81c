"""security: bandit and semgrep on the changed files, counting only findings the change introduced.

bandit runs with `--ignore-nosec` and semgrep with `--disable-nosem`, so a suppression comment added by
the change hides nothing. semgrep runs offline with local rules only (`--metrics=off
--disable-version-check`, never the registry), from its own pinned venv; when it is not installed its
part is `not_run` (bandit still counts). Findings below `min_severity`/`min_confidence` are counted in
the details but raise no flag.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from nightshift.agents.sandbox import SANDBOX_PATH
from nightshift.gates.checks import CheckContext, CheckOutcome, flagged
from nightshift.gates.checks.findings import Finding, introduced, views, with_content
from nightshift.gates.report import Flag
from nightshift.gates.tools import semgrep_executable

NAME = "security"
_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
_SEMGREP_SEVERITY = {
    "ERROR": "high",
    "WARNING": "medium",
    "INFO": "low",
    "CRITICAL": "critical",
    "HIGH": "high",
    "MEDIUM": "medium",
    "LOW": "low",
}
MAX_FLAGS = 30


class ToolMissing(RuntimeError):
    """The analyser is not installed; its part of the check is not_run."""


def bandit(folder: Path, files: list[str], skips: list[str], timeout: float) -> list[Finding]:
    args = [sys.executable, "-m", "bandit", "-f", "json", "-q", "--ignore-nosec"]
    if skips:
        args += ["-s", ",".join(skips)]
    proc = subprocess.run(
        [*args, *files], cwd=folder, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"bandit exited with {proc.returncode}: {proc.stderr.strip()[-300:]}") from None
    out = [
        Finding(
            file=os.path.normpath(r["filename"]),
            line=int(r.get("line_number") or 0),
            rule=str(r.get("test_id")),
            message=f"{r.get('test_name', '')}: {r.get('issue_text', '')}",
            severity=str(r.get("issue_severity", "")).lower() or None,
            confidence=str(r.get("issue_confidence", "")).lower() or None,
        )
        for r in data.get("results", [])
    ]
    return with_content(out, folder)


def semgrep(
    exe: Path, folder: Path, files: list[str], rules: Path, home: Path, timeout: float
) -> list[Finding]:
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{exe.parent}:{SANDBOX_PATH}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "SEMGREP_SEND_METRICS": "off",
        "SEMGREP_ENABLE_VERSION_CHECK": "0",
        "XDG_CONFIG_HOME": str(home),
        "XDG_CACHE_HOME": str(home),
    }
    proc = subprocess.run(
        [
            str(exe),
            "scan",
            "--config",
            str(rules),
            "--json",
            "--metrics=off",
            "--disable-version-check",
            "--disable-nosem",
            "--no-git-ignore",
            "--quiet",
            "--timeout",
            str(max(5, int(timeout / 2))),
            "--jobs",
            "1",
            "--",
            *files,
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"semgrep exited with {proc.returncode}: {proc.stderr.strip()[-300:]}") from None
    out = []
    for r in data.get("results", []):
        extra = r.get("extra") or {}
        out.append(
            Finding(
                file=os.path.normpath(r.get("path", "")),
                line=int((r.get("start") or {}).get("line") or 0),
                rule=str(r.get("check_id", "")).rsplit(".", 1)[-1],
                message=str(extra.get("message", "")).strip(),
                severity=_SEMGREP_SEVERITY.get(str(extra.get("severity", "")).upper(), "medium"),
                confidence=str((extra.get("metadata") or {}).get("confidence", "medium")).lower(),
            )
        )
    return with_content(out, folder)


def _counts(f: Finding, min_severity: str, min_confidence: str) -> bool:
    return (
        _RANK.get(f.severity or "low", 0) >= _RANK[min_severity]
        and _RANK.get(f.confidence or "medium", 1) >= _RANK[min_confidence]
    )


def _split(findings: list[Finding]) -> tuple[list[Finding], list[Finding]]:
    """One analyser run covers both sides (base/..., head/...): half the start-up cost. Split it."""
    sides: dict[str, list[Finding]] = {"base": [], "head": []}
    for f in findings:
        side, _, rest = f.file.partition("/")
        if side in sides and rest:
            sides[side].append(Finding(rest, f.line, f.rule, f.message, f.severity, f.confidence, f.content))
    return sides["head"], sides["base"]


def check_security(ctx: CheckContext) -> CheckOutcome:
    cfg = ctx.config.security
    changed = [f.path for f in ctx.diff.files if f.regular_at_head and not f.binary]
    if not changed:
        return flagged(NAME, [], "no file to scan", files=0)
    deadline = time.monotonic() + ctx.config.timeouts.security
    folder = ctx.scratch / "security"
    base_dir, _head_dir = views(ctx.repo, ctx.diff.base, ctx.diff.head, changed, folder, [])
    both = [f"head/{p}" for p in changed] + [f"base/{p}" for p in changed if (base_dir / p).is_file()]
    py = [p for p in both if p.endswith(".py")]
    new: list[tuple[str, Finding]] = []
    parts: dict[str, str] = {}
    details: dict[str, int | float | str | bool | None] = {"files": len(changed)}

    if not cfg.bandit:
        parts["bandit"] = "not_run: turned off (security.bandit)"
    elif not py:
        parts["bandit"] = "no Python file"
    else:
        head, base = _split(bandit(folder, py, cfg.bandit_skips, deadline - time.monotonic()))
        found = introduced(head, base)
        new += [("bandit", f) for f in found]
        parts["bandit"] = f"{len(found)} new"
        details["bandit_new"] = len(found)

    semgrep_ran = False
    exe = Path(cfg.semgrep_executable) if cfg.semgrep_executable else semgrep_executable()
    rules = Path(cfg.semgrep_rules)
    if not cfg.semgrep:
        parts["semgrep"] = "not_run: turned off (security.semgrep)"
    elif exe is None or not exe.is_file():
        parts["semgrep"] = "not_run: semgrep is not installed (python -m nightshift gates install-tools)"
    elif not rules.exists():
        parts["semgrep"] = f"not_run: the rules {rules} do not exist"
    else:
        home = ctx.scratch / "semgrep-home"
        head, base = _split(semgrep(exe, folder, both, rules, home, deadline - time.monotonic()))
        found = introduced(head, base)
        new += [("semgrep", f) for f in found]
        parts["semgrep"] = f"{len(found)} new"
        details["semgrep_new"] = len(found)
        semgrep_ran = True
    if "bandit_new" not in details and not semgrep_ran and py:
        return CheckOutcome.not_run(NAME, "; ".join(f"{k}: {v}" for k, v in parts.items()))

    counted = [(tool, f) for tool, f in new if _counts(f, cfg.min_severity, cfg.min_confidence)]
    details["below_threshold"] = len(new) - len(counted)
    flags = [
        Flag(
            kind="security",
            file=f.file,
            line=f.line,
            rule=f"{tool}:{f.rule}",
            severity=f.severity if f.severity in _RANK else "medium",  # type: ignore[arg-type]
            message=f"{tool} {f.rule} ({f.severity}): {f.message}"[:300],
        )
        for tool, f in counted[:MAX_FLAGS]
    ]
    reason = "; ".join(f"{k}: {v}" for k, v in parts.items())
    return flagged(NAME, flags, reason, **details)
