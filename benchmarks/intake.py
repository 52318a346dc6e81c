"""Intake end to end on the shipped demo tickets: collect, validate, sequence and write the manifest.

Target: under 2 s for the 8 demo tickets, first run and re-run alike. Airflow runs the three intake
tasks at least once, so a re-run on the same batch folder (a retry or a cleared task) is measured too.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from itertools import count as counter
from pathlib import Path

from benchmarks._harness import (
    REPO,
    Case,
    MiB,
    Result,
    Settings,
    check,
    median_time,
    peak_memory,
    seconds,
    size,
)
from nightshift.artifacts import ArtifactStore, BatchArtifacts
from nightshift.intake.config import load_intake_config
from nightshift.intake.pipeline import run_intake
from nightshift.intake.sources import FileSource
from nightshift.models import BatchConfig, BatchManifest

TICKETS = REPO / "include" / "demo" / "tickets"
CONFIG = REPO / "include" / "config" / "intake.yaml"
CREATED_AT = dt.datetime(2024, 1, 15, 18, 0, tzinfo=dt.UTC)


def bench_demo(settings: Settings) -> Iterator[Result]:
    config = load_intake_config(CONFIG)
    tickets = sum(1 for p in TICKETS.glob("*.md") if p.name.lower() != "readme.md")
    with tempfile.TemporaryDirectory(prefix="nightshift-bench-") as tmp:
        numbers = counter()
        current: list[BatchArtifacts] = []

        def fresh() -> None:
            """A new store each time: earlier batches in the same store would be read for carry-over."""
            store = ArtifactStore(f"file://{Path(tmp) / f'artifacts-{next(numbers)}'}")
            current[:] = [store.batch("2024-01-15-overnight")]

        def intake() -> BatchManifest:
            source = FileSource(TICKETS, config, name="demo")
            return run_intake(current[0], [source], config, BatchConfig(), created_at=CREATED_AT)

        first = median_time(intake, settings.repeats(5, 1), setup=fresh, budget=4)
        check(len(first.value.tickets) == 7, f"{len(first.value.tickets)} tickets in the manifest, not 7")
        rerun = median_time(intake, settings.repeats(5, 1), budget=4)  # same batch folder
        check(rerun.value == first.value, "a re-run changed the manifest")
        fresh()
        peak, _ = peak_memory(intake)
    yield Result(
        "intake.demo",
        f"{tickets} ticket files -> {len(first.value.tickets)} in the manifest: {seconds(first.seconds)} "
        f"({first.how}), peak {size(peak)}",
        "< 2 s, < 64 MiB",
        first.seconds < 2.0 and peak < 64 * MiB,
    )
    yield Result(
        "intake.demo-rerun",
        f"same batch folder again (a retried task): {seconds(rerun.seconds)} ({rerun.how})",
        "< 2 s",
        rerun.seconds < 2.0,
    )


CASES = [Case("intake.demo", bench_demo)]
