"""Manifest loading: the spec's example, a 1,000-ticket batch, and hostile files that must be refused fast.

Targets: a valid manifest of the largest allowed batch (max_tickets <= 1,000) loads in under a second;
hostile input (docs/security-and-reliability.md: bombs, deep nesting, duplicate keys, non-UTF-8, size) is
refused "in under a second" -- here held to 100 ms, since the strict loader stops at the first sign --
with little memory; a 10,000-ticket dependency chain with a cycle is rejected, naming the cycle, in
under a second.
"""

from __future__ import annotations

import itertools
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmarks._harness import (
    REPO,
    Case,
    MiB,
    PremiseError,
    Result,
    Settings,
    check,
    count,
    median_time,
    peak_memory,
    seconds,
    size,
)
from nightshift.manifest import ManifestError, load_manifest, validate_manifest_data
from nightshift.models import BatchManifest
from nightshift.safe_yaml import load_yaml_file

EXAMPLE = REPO / "include" / "demo" / "manifest-example.yaml"

HEADER = 'batch_id: "2024-01-15-overnight"\ncreated_at: "2024-01-15T18:00:00Z"\n'


def _load(path: Path) -> BatchManifest:
    return load_manifest(path)


def _reject(path: Path) -> ManifestError:
    """The ManifestError load_manifest raises; a manifest that loads breaks the benchmark's premise."""
    try:
        load_manifest(path)
    except ManifestError as exc:
        return exc
    raise PremiseError(f"{path.name} was accepted")


def generated_manifest(n: int, seed: int = 1) -> str:
    """A valid manifest of n tickets, each depending on up to 3 earlier ones (a random DAG)."""
    rng = random.Random(seed)
    config = "config:\n  max_tickets: 1000\n  timeout_per_ticket: 30m\n  parallel_agents: 3\n"
    lines = [HEADER, config, "tickets:\n"]
    for i in range(1, n + 1):
        deps = rng.sample(range(1, i), min(i - 1, rng.choice([0, 0, 1, 1, 2, 3])))
        dep_list = ", ".join(f'"PROJ-{d}"' for d in deps)
        lines.append(
            f'  - id: "PROJ-{i}"\n'
            f"    priority: {rng.choice(['high', 'medium', 'low'])}\n"
            f"    complexity: {rng.choice(['small', 'medium', 'large'])}\n"
            f'    estimated_files: ["src/module_{i}.py", "tests/test_module_{i}.py"]\n'
            f"    dependencies: [{dep_list}]\n"
        )
    lines.append("status: pending\n")
    return "".join(lines)


def chain_with_cycle(n: int) -> str:
    """n tickets where each depends on the next and the last on the first: one cycle through all of them."""
    lines = [HEADER, "tickets:\n"]
    for i in range(1, n + 1):
        nxt = i + 1 if i < n else 1
        lines.append(f'  - {{id: "CHAIN-{i}", dependencies: ["CHAIN-{nxt}"]}}\n')
    return "".join(lines)


def alias_bomb() -> str:
    """The billion-laughs shape: each level repeats the previous anchor nine times."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    names = "abcdefghi"
    for prev, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [{','.join(f'*{prev}' for _ in range(9))}]\n")
    return "".join(lines)


def deep_nesting(depth: int = 100) -> str:
    return HEADER + "config: " + "[" * depth + "]" * depth + "\n"


def duplicate_keys() -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    return text.replace("    priority: high\n", "    priority: high\n    priority: low\n", 1)


def non_utf8() -> bytes:
    # A Latin-1 "é" in a title: a file saved by an editor in the wrong encoding.
    return HEADER.encode() + b'tickets:\n  - id: "PROJ-1"\n    title: "caf\xe9"\n'


def two_megabytes() -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    padding = "# " + "x" * 98 + "\n"
    return text + padding * (2 * MiB // len(padding) + 1)


def _split(path: Path) -> tuple[float, float]:
    """load_manifest's two steps timed apart (strict YAML parsing, then the checks): where time goes."""
    start = time.perf_counter()
    data = load_yaml_file(path)
    parsed = time.perf_counter()
    validate_manifest_data(data)
    return parsed - start, time.perf_counter() - parsed


def bench_example(settings: Settings) -> Iterator[Result]:
    timing = median_time(lambda: _load(EXAMPLE), settings.repeats(50, 5))
    peak, _ = peak_memory(lambda: _load(EXAMPLE))
    check(len(timing.value.tickets) == 3, "the example did not load with its 3 tickets")
    yield Result(
        "manifest.example",
        f"3 tickets valid in {seconds(timing.seconds)} ({timing.how}), peak {size(peak)}",
        "< 50 ms, < 8 MiB",
        timing.seconds < 0.05 and peak < 8 * MiB,
    )


def bench_generated(settings: Settings) -> Iterator[Result]:
    n = settings.size(1000, 100)
    with tempfile.TemporaryDirectory(prefix="nightshift-bench-") as tmp:
        path = Path(tmp) / "manifest.yaml"
        path.write_text(generated_manifest(n), encoding="utf-8")
        timing = median_time(lambda: _load(path), settings.repeats(5, 1), budget=6)
        parse, checks = _split(path)
        peak, _ = peak_memory(lambda: _load(path))
        file_size = path.stat().st_size
    check(len(timing.value.tickets) == n, "the generated manifest did not load whole")
    deps = sum(len(t.dependencies) for t in timing.value.tickets)
    yield Result(
        f"manifest.{n}-tickets",
        f"{count(n)} tickets, {count(deps)} deps, {size(file_size)}: {seconds(timing.seconds)} "
        f"({timing.how}; one split run: YAML {seconds(parse)} + checks {seconds(checks)}), peak {size(peak)}",
        "< 1 s, < 64 MiB",
        timing.seconds < 1.0 and peak < 64 * MiB,
    )


def bench_cycle(settings: Settings) -> Iterator[Result]:
    """Time only: a traced run of this one costs tens of seconds, too much for the whole-run budget."""
    n = settings.size(10_000, 1000)
    with tempfile.TemporaryDirectory(prefix="nightshift-bench-") as tmp:
        path = Path(tmp) / "chain.yaml"
        path.write_text(chain_with_cycle(n), encoding="utf-8")
        timing = median_time(lambda: _reject(path), settings.repeats(3, 1), budget=3)
        parse, checks = _split(path)
        file_size = path.stat().st_size
    error = timing.value
    cycles = [p for p in error.problems if p.field == "dependencies" and "dependency cycle" in p.message]
    check(len(cycles) == 1, f"expected one named cycle, got {len(cycles)}")
    named = cycles[0].message.removeprefix("dependency cycle ").split(" -> ")
    check(len(named) == n + 1 and named[0] == named[-1], f"the cycle names {len(named)} ids, not {n + 1}")
    yield Result(
        f"manifest.{n}-chain-cycle",
        f"{size(file_size)} rejected in {seconds(timing.seconds)} ({timing.how}; one split run: "
        f"YAML {seconds(parse)} + checks {seconds(checks)}), cycle of {count(n)} named",
        "< 1 s",
        timing.seconds < 1.0,
    )


#: name -> (file content, a phrase the refusal must contain)
HOSTILE: dict[str, tuple[Callable[[], str | bytes], str]] = {
    "alias-bomb": (alias_bomb, "anchors"),
    "nesting-100": (deep_nesting, "nested deeper than"),
    "duplicate-keys": (duplicate_keys, "duplicate key"),
    "non-utf8": (non_utf8, "not UTF-8"),
    "2MB-file": (two_megabytes, "byte limit"),
}


def _hostile_case(name: str) -> Case:
    make, phrase = HOSTILE[name]

    def run(settings: Settings) -> Iterator[Result]:
        repeats = settings.repeats(20, 3)
        content = make()
        with tempfile.TemporaryDirectory(prefix="nightshift-bench-") as tmp:
            path = Path(tmp) / f"{name}.yaml"
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            file_size = path.stat().st_size
            timing = median_time(lambda: _reject(path), repeats)
            peak, _ = peak_memory(lambda: _reject(path))
        check(phrase in str(timing.value), f"refused for another reason: {timing.value}")
        yield Result(
            f"manifest.{name}",
            f"{size(file_size)} rejected in {seconds(timing.seconds)} ({timing.how}), peak {size(peak)}",
            "< 100 ms, < 8 MiB",
            timing.seconds < 0.1 and peak < 8 * MiB,
        )

    return Case(f"manifest.{name}", run)


CASES = [
    Case("manifest.example", bench_example),
    Case("manifest.generated", bench_generated),
    Case("manifest.chain-cycle", bench_cycle),
    *(_hostile_case(name) for name in HOSTILE),
]
