"""The artifact store on file:// and the batch state derived from its records: time per operation.

Batch state is never a shared file: every event is one small record, and "paused until", "aborted"
and outcomes are derived by listing and reading. That design is only sound while those reads stay
cheap at batch scale, so the targets are per operation on a 1,000-record batch: a durable write
(fsync + rename) under 5 ms, a read under 1 ms, a listing under 50 ms, each derived state question
(checked before every checkpoint starts) under 50 ms, and all 1,000 outcomes read in under a second.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Iterator
from itertools import count as counter
from pathlib import Path

from benchmarks._harness import (
    Case,
    MiB,
    Result,
    Settings,
    check,
    count,
    median_time,
    peak_memory,
    seconds,
    size,
)
from nightshift.agents.contract import Checkpoint
from nightshift.artifacts import ArtifactStore, BatchArtifacts
from nightshift.generation.state import MAX_RATE_LIMITS, BatchState, TicketOutcome
from nightshift.models import TicketState


def _per_op(name: str, ops: int, total: float, how: str, limit: float, extra: str = "") -> Result:
    per = total / ops
    return Result(
        name,
        f"{count(ops)} ops: {seconds(per)}/op, {seconds(total)} total ({how}){extra}",
        f"< {seconds(limit)}/op",
        per < limit,
    )


def bench_store(settings: Settings) -> Iterator[Result]:
    n = settings.size(1000, 100)
    with tempfile.TemporaryDirectory(prefix="nightshift-bench-") as tmp:
        store = ArtifactStore(f"file://{Path(tmp) / 'artifacts'}")
        batches = (store.batch(f"bench-{k}") for k in counter())
        current: list[BatchArtifacts] = []

        def fresh() -> None:
            current[:] = [next(batches)]

        def write_all() -> None:
            batch = current[0]
            for i in range(n):
                record = {"ticket": f"PROJ-{i}", "n": i, "note": "x" * 64}
                batch.write_json(f"records/rec-{i:05d}.json", record)

        write = median_time(write_all, settings.repeats(3, 1), setup=fresh, budget=4)
        yield _per_op("artifacts.write_json", n, write.seconds, write.how, 5e-3)

        batch = current[0]
        listing = median_time(lambda: batch.list("records"), settings.repeats(20, 3))
        check(len(listing.value) == n, f"listed {len(listing.value)} of {n} records")
        yield Result(
            "artifacts.list",
            f"{count(n)} names in {seconds(listing.seconds)} ({listing.how})",
            "< 50 ms",
            listing.seconds < 0.05,
        )

        def read_all() -> int:
            return sum(1 for name in listing.value if batch.read_text(f"records/{name}") is not None)

        read = median_time(read_all, settings.repeats(5, 1))
        check(read.value == n, "a record could not be read back")
        yield _per_op("artifacts.read_text", n, read.seconds, read.how, 1e-3)

        yield from _bench_state(settings, store.batch("state"), n)


def _bench_state(settings: Settings, batch: BatchArtifacts, n: int) -> Iterator[Result]:
    state = BatchState(batch)
    now = dt.datetime.now(dt.UTC)
    ids = [f"PROJ-{i}" for i in range(1, n + 1)]

    reset_at = now + dt.timedelta(hours=1)
    limited = iter(ids)
    limits = median_time(
        lambda: state.record_rate_limit(next(limited), Checkpoint.C2, reset_at), MAX_RATE_LIMITS
    )
    total = limits.seconds * MAX_RATE_LIMITS
    yield _per_op("state.record_rate_limit", MAX_RATE_LIMITS, total, limits.how, 50e-3)

    outcomes_written = median_time(
        lambda: [
            state.save_outcome(TicketOutcome(ticket_id=t, batch_id="state", state=TicketState.COMPLETED))
            for t in ids
        ],
        1,
    )
    yield _per_op("state.save_outcome", n, outcomes_written.seconds, "each once", 5e-3)

    questions: list[tuple[str, Callable[[], object], Callable[[object], bool]]] = [
        ("state.paused_until", state.paused_until, lambda v: isinstance(v, dt.datetime) and v > now),
        ("state.aborted", state.aborted, lambda v: v is False),
    ]
    for name, ask, expected in questions:
        timing = median_time(ask, settings.repeats(20, 3))
        check(expected(timing.value), f"{name} answered {timing.value!r}")
        yield Result(
            name,
            f"with {MAX_RATE_LIMITS} rate-limit records and {count(n)} outcomes: "
            f"{seconds(timing.seconds)} ({timing.how})",
            "< 50 ms",
            timing.seconds < 0.05,
        )

    read = median_time(lambda: state.outcomes(ids), settings.repeats(3, 1))
    peak, _ = peak_memory(lambda: state.outcomes(ids))
    check(len(read.value) == n, f"{len(read.value)} of {n} outcomes read")
    yield Result(
        "state.outcomes",
        f"{count(n)} ids in {seconds(read.seconds)} ({read.how}), {seconds(read.seconds / n)}/id, "
        f"peak {size(peak)}",
        "< 1 s, < 64 MiB",
        read.seconds < 1.0 and peak < 64 * MiB,
    )


CASES = [Case("artifacts.store", bench_store)]
