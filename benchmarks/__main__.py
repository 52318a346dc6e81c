"""`python -m benchmarks [--quick] [area ...]`: run the benchmarks, print one line per figure, and write
the named figures to .nightshift/bench/results.json.

Areas are imported one at a time, so an area that cannot even import is reported as crashed and the
others still run. results.json is merged, not replaced: a run of some areas updates their figures and
keeps the others'. A figure that could not be measured is written as null, with the reason under
"notes". Exit status: 0 whatever the timings; 1 if any benchmark crashed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks._harness import REPO, Case, Result, Settings, run_case, size
from nightshift.artifacts import write_text_atomic

#: area name -> module (one module per area, each with a CASES list).
AREAS = {
    "manifest": "benchmarks.manifest",
    "sequencing": "benchmarks.sequencing",
    "sequencing_quality": "benchmarks.sequencing_quality",
    "sanitise": "benchmarks.sanitise",
    "artifacts": "benchmarks.artifacts",
    "trackers": "benchmarks.trackers",
    "intake": "benchmarks.intake",
    "sandbox": "benchmarks.sandbox",
    "batch": "benchmarks.batch",
    "dag": "benchmarks.dag",
    "workspace": "benchmarks.workspace",
    "gates": "benchmarks.gates",
}
RESULTS = REPO / ".nightshift" / "bench" / "results.json"
#: The figures issue 14 names, each written even when it could not be measured (null, with the reason).
NAMED = (
    "makespan_ratio_20x3",
    "makespan_ratio_200x10",
    "overhead_s_per_ticket",
    "rate_limit_resume_s",
    "dag_parse_s",
    "intake_10k_s",
    "intake_10k_peak_mb",
    "gates_cost_ratio",
    "worktree_disk_ratio",
    "sequencing_vs_optimum",
    "sequencing_vs_naive",
)


def _memory_total() -> str:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return size(int(line.split()[1]) * 1024)
    except OSError:
        pass
    return "unknown"


def _git_revision() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        rev = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{rev}{' (modified)' if dirty else ''}" if rev else "unknown"


def header(settings: Settings, areas: Sequence[str]) -> str:
    """Machine facts first: figures mean little without the machine they came from."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        f"Nightshift benchmarks ({'quick sizes: a smoke check, not figures' if settings.quick else 'full'})",
        f"  date     {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC, revision {_git_revision()}",
        f"  machine  {usable} usable cores of {os.cpu_count()}, {_memory_total()} RAM, "
        f"{platform.system()} {platform.release()} {platform.machine()}",
        f"  python   {platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        f"  areas    {', '.join(areas)}",
        "",
        f"{'benchmark':<28} {'verdict':<12} {'target':<22} figures",
        "-" * 120,
    ]
    return "\n".join(lines)


def load_cases(area: str) -> list[Case]:
    module = importlib.import_module(AREAS[area])
    return list(module.CASES)


def run(areas: Sequence[str], settings: Settings) -> list[Result]:
    results: list[Result] = []
    for area in areas:
        try:
            cases = load_cases(area)
        except Exception as exc:  # an area that cannot import is one crashed line
            result = Result(area, "", "", crashed=f"import failed: {type(exc).__name__}: {exc}")
            print(result.line(), flush=True)
            results.append(result)
            continue
        for case in cases:
            for result in run_case(case, settings):
                print(result.line(), flush=True)
                results.append(result)
    return results


def summary(results: Sequence[Result], elapsed: float) -> str:
    ok = sum(1 for r in results if r.ok)
    over = [r for r in results if r.ok is False and r.skipped is None and r.crashed is None]
    skipped = [r for r in results if r.skipped is not None]
    crashed = [r for r in results if r.crashed is not None]
    lines = [
        "-" * 120,
        f"{len(results)} figures: {ok} ok, {len(over)} over target, {len(skipped)} skipped, "
        f"{len(crashed)} crashed -- {elapsed:.1f} s wall",
    ]
    lines += [f"  over target: {r.name}" for r in over]
    lines += [f"  skipped: {r.name}: {r.skipped}" for r in skipped]
    lines += [f"  crashed: {r.name}: {r.crashed}" for r in crashed]
    return "\n".join(lines)


def write_results(results: Sequence[Result], settings: Settings, path: Path = RESULTS) -> dict[str, object]:
    """Merge this run's figures into results.json: {name: number or null, ..., "notes": {...}}."""
    try:
        data: dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        data = {}
    notes = data.get("notes") if isinstance(data.get("notes"), dict) else {}
    assert isinstance(notes, dict)
    for name in NAMED:
        data.setdefault(name, None)
        notes.setdefault(name, "not measured yet: run `make bench`")
    for result in results:
        if settings.quick:
            continue  # quick sizes are a smoke check, not figures
        if result.figure is not None:
            data[result.name] = result.figure
            notes[result.name] = f"{result.verdict} (target {result.target}): {result.figures}"
        elif result.name in NAMED or result.crashed or result.skipped:
            data[result.name] = None
            notes[result.name] = result.crashed or result.skipped or result.figures
        else:  # an existing benchmark without a single number: keep its line
            notes[result.name] = f"{result.verdict} (target {result.target}): {result.figures}"
    data["notes"] = notes
    data["written_at"] = f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ}"
    data["revision"] = _git_revision()
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Print Nightshift's speed, scale and memory figures next to their targets.",
    )
    parser.add_argument(
        "areas", nargs="*", metavar="area", help=f"areas to run (default: all): {', '.join(AREAS)}"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: check that every benchmark still runs (~15 s)"
    )
    parser.add_argument("--list", action="store_true", help="list the areas and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(AREAS))
        return 0
    unknown = [a for a in args.areas if a not in AREAS]
    if unknown:
        parser.error(f"unknown area(s) {', '.join(unknown)}; choose from {', '.join(AREAS)}")
    areas = args.areas or list(AREAS)
    settings = Settings(quick=args.quick)
    print(header(settings, areas), flush=True)
    started = time.perf_counter()
    results = run(areas, settings)
    print(summary(results, time.perf_counter() - started), flush=True)
    if not settings.quick:
        write_results(results, settings)
        print(f"figures written to {RESULTS.relative_to(REPO)}", flush=True)
    return 1 if any(r.crashed is not None for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
