"""The agent runs of a batch, read back from the evidence the runner wrote around each sandboxed process.

The runner writes `run.json` (and the flow `launch.json`) in `tickets/<id>/runs/<n>/`. Proving that a
night never ran more than `parallel_agents` agents at once, and measuring a night's makespan, both need
each process's wall-clock bounds: `process_started_at`/`process_ended_at` are taken to the microsecond
around the sandbox call. Older evidence only has `finished_at` (whole seconds, written after the result
was read) and the duration; its bounds are estimated from those and may be off by a second.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from nightshift import layout


class AgentRun(BaseModel):
    """One sandboxed agent process: which ticket and checkpoint, how it ended, and when it ran."""

    model_config = ConfigDict(frozen=True)

    ticket: str
    checkpoint: str
    status: str | None
    start: dt.datetime
    end: dt.datetime
    seconds: float
    launched: dt.datetime | None  # when the flow let the agent go (launch.json)
    exact: bool  # bounds measured around the process, not estimated from a rounded end


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def agent_runs(batch_dir: Path) -> list[AgentRun]:
    """Every agent process the batch ran, in folder order (runs the runner refused to start are left out)."""
    runs: list[AgentRun] = []
    for run_json in sorted(batch_dir.glob(f"{layout.TICKETS}/*/{layout.RUNS}/*/{layout.RUN_RECORD}")):
        data = json.loads(run_json.read_text())
        if data.get("ran") is False:
            continue
        seconds = float(data["duration_seconds"])
        exact = "process_started_at" in data and "process_ended_at" in data
        if exact:
            start, end = _ts(data["process_started_at"]), _ts(data["process_ended_at"])
        else:
            end = _ts(data["finished_at"])
            start = end - dt.timedelta(seconds=seconds)
        launch = run_json.parent / layout.RUN_LAUNCH
        launched = _ts(json.loads(launch.read_text())["launched_at"]) if launch.exists() else None
        runs.append(
            AgentRun(
                ticket=data["ticket"],
                checkpoint=data["checkpoint"],
                status=data.get("status"),
                start=start,
                end=end,
                seconds=seconds,
                launched=launched,
                exact=exact,
            )
        )
    return runs


def peak_concurrency(intervals: Iterable[tuple[dt.datetime, dt.datetime]]) -> int:
    """The most intervals open at one instant; one that ends exactly when another starts does not overlap."""
    bounds = list(intervals)
    events = sorted(
        [(start, 1) for start, _ in bounds] + [(end, -1) for _, end in bounds],
        key=lambda event: (event[0], event[1]),
    )
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak
