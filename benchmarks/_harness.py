"""What every benchmark shares: sizes for full and quick runs, medians of repeated runs, peak memory,
and one printed line per figure.

Time is measured without tracemalloc (tracing slows allocation-heavy code several times over); peak
memory comes from one separate traced run, and counts only what the call allocates, not its input.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
KiB = 1024
MiB = 1024 * 1024


class PremiseError(AssertionError):
    """The benchmark did not measure what it claims (e.g. a bomb was accepted): a failure, not a figure."""


@dataclass(frozen=True)
class Settings:
    """Full sizes for `make bench`; small ones for `--quick`, a check that every benchmark still runs."""

    quick: bool = False

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def repeats(self, full: int, quick: int = 1) -> int:
        return quick if self.quick else full


@dataclass(frozen=True)
class Result:
    """One printed line: the figures measured, the target they are compared with, and the verdict."""

    name: str
    figures: str
    target: str
    ok: bool | None = None  # None: nothing compared (skipped or crashed)
    skipped: str | None = None
    crashed: str | None = None
    #: The number written to results.json under `name` (None: the line is shown, not recorded).
    figure: float | int | None = None

    @property
    def verdict(self) -> str:
        if self.crashed is not None:
            return "CRASHED"
        if self.skipped is not None:
            return "skipped"
        if self.ok is None:
            return "measured"  # a breakdown line: no target to compare with
        return "ok" if self.ok else "over target"

    def line(self) -> str:
        """Verdict and target before the figures, so the columns stay aligned whatever the figures say."""
        figures = self.crashed or self.skipped or self.figures
        return f"{self.name:<28} {self.verdict:<12} {self.target or '-':<22} {figures}"


@dataclass(frozen=True)
class Case:
    """A named benchmark; `run` yields one Result per figure (several when they share a costly setup)."""

    name: str
    run: Callable[[Settings], Iterable[Result]]


def check(condition: bool, message: str) -> None:
    """Fail the benchmark (not the timing) when what it measures did not happen."""
    if not condition:
        raise PremiseError(message)


class Timing(NamedTuple, Generic[T]):
    """Median wall seconds over `runs` calls, and the last call's value."""

    seconds: float
    runs: int
    value: T

    @property
    def how(self) -> str:
        return f"median of {self.runs}" if self.runs > 1 else "1 run"


def median_time(
    fn: Callable[[], T],
    repeats: int,
    *,
    setup: Callable[[], None] | None = None,
    budget: float | None = None,
) -> Timing[T]:
    """Median wall seconds of up to `repeats` calls of fn (each after `setup`, untimed).

    With `budget`, no new call starts once the timed calls have used that many seconds, so a slow
    figure costs the run one call, not `repeats` of them (the line then says how many calls it took).
    """
    times: list[float] = []
    value: T | None = None
    for _ in range(max(1, repeats)):
        if setup is not None:
            setup()
        gc.collect()
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
        if budget is not None and sum(times) >= budget:
            break
    return Timing(statistics.median(times), len(times), value)  # type: ignore[arg-type]


def peak_memory(fn: Callable[[], T]) -> tuple[int, T]:
    """Peak bytes allocated by one call of fn (tracemalloc), and its value."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        value = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peak, value


def seconds(value: float) -> str:
    """A duration with a unit that keeps three significant figures."""
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.3g} ms"
    return f"{value:.3g} s"


def size(value: float) -> str:
    if value < KiB:
        return f"{value:.0f} B"
    if value < MiB:
        return f"{value / KiB:.1f}".removesuffix(".0") + " KiB"
    return f"{value / MiB:.1f}".removesuffix(".0") + " MiB"


def count(value: int) -> str:
    return f"{value:,}"


def run_case(case: Case, settings: Settings) -> Iterator[Result]:
    """Run one case; a crash becomes a CRASHED line instead of ending the whole run."""
    try:
        yield from case.run(settings)
    except Exception as exc:  # report any failure, then carry on with the next case
        text = " ".join(f"{type(exc).__name__}: {exc}".split())
        yield Result(case.name, "", "", crashed=text[:300])
