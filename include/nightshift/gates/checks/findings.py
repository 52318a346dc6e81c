"""Introduced findings: what an analyser reports at the head and did not report at the base.

Findings are matched by rule and the normalised text of their line, not by line number, so code that
merely moved (lines added above it) does not count as new. Duplicates are counted: a second copy of a
flagged line is a new finding.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from nightshift.agents.sandbox import safe_read
from nightshift.gates.diff import write_files


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    rule: str
    message: str
    severity: str | None = None
    confidence: str | None = None
    content: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.file, self.rule, self.content)


def normalise(text: str) -> str:
    return " ".join(text.split())


def with_content(findings: list[Finding], tree: Path) -> list[Finding]:
    """Fill in each finding's normalised line text from the file under `tree`."""
    cache: dict[str, list[str]] = {}
    out = []
    for f in findings:
        if f.file not in cache:
            data = safe_read(tree / f.file, 5_000_000) or b""
            cache[f.file] = data.decode(errors="replace").splitlines()
        lines = cache[f.file]
        content = normalise(lines[f.line - 1]) if 0 < f.line <= len(lines) else ""
        out.append(Finding(f.file, f.line, f.rule, f.message, f.severity, f.confidence, content))
    return out


def introduced(head: list[Finding], base: list[Finding]) -> list[Finding]:
    """Head findings beyond the base's count of the same (file, rule, line text)."""
    remaining = Counter(f.key for f in base)
    new = []
    for f in sorted(head, key=lambda x: (x.file, x.line, x.rule)):
        if remaining[f.key] > 0:
            remaining[f.key] -= 1
        else:
            new.append(f)
    return new


def views(
    repo: Path, base: str, head: str, paths: list[str], dest: Path, extra_base: list[str]
) -> tuple[Path, Path]:
    """Two folders with the same layout: `paths` at the base and at the head, plus `extra_base` (config
    files) taken from the BASE in both, so both sides are analysed under the same rules."""
    base_dir, head_dir = dest / "base", dest / "head"
    write_files(repo, base, paths + extra_base, base_dir)
    write_files(repo, head, paths, head_dir)
    write_files(repo, base, extra_base, head_dir)
    base_dir.mkdir(parents=True, exist_ok=True)
    head_dir.mkdir(parents=True, exist_ok=True)
    return base_dir, head_dir
