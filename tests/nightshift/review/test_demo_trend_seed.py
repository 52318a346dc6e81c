"""The demo's two earlier weeks: the trend shows them beside the demo batch's week."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from nightshift.artifacts import ArtifactStore
from nightshift.review.metrics import stored_metrics, weekly_trend
from nightshift_local.demo import seed_earlier_weeks


def test_two_earlier_reviewed_weeks_fill_the_trend(tmp_path: Path) -> None:
    seeded = seed_earlier_weeks(tmp_path, dt.date(2026, 11, 30))
    assert seeded == ["2026-11-16-overnight", "2026-11-23-overnight"]
    again = seed_earlier_weeks(tmp_path, dt.date(2026, 11, 30))  # a re-run rewrites, never adds
    assert again == seeded
    records = stored_metrics(ArtifactStore(tmp_path.as_uri()))
    assert [m.batch_id for m in records] == seeded
    assert all(m.status == "reviewed" and m.all_reviewed for m in records)
    weeks = weekly_trend(records)
    assert [w.line() for w in weeks] == [
        "Week 2026-W47: 12 tickets, 75% completion, avg score 82",
        "Week 2026-W48: 15 tickets, 80% completion, avg score 84",
    ]
