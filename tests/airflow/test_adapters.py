"""The Airflow adapters on their own: batch ids, the manifest-order priority, the triggers."""

from __future__ import annotations

import asyncio
import datetime as dt
from types import SimpleNamespace

from nightshift.agents.contract import Checkpoint
from nightshift.artifacts import ArtifactStore
from nightshift.generation.state import BatchState, TicketOutcome
from nightshift.models import TicketState, check_batch_id


def test_batch_ids_are_the_specs_form_and_unique_per_manual_run():
    from nightshift_airflow.batch import batch_id_for_run

    when = dt.datetime(2024, 1, 15, 17, tzinfo=dt.UTC)
    assert batch_id_for_run("scheduled__2024-01-15", "scheduled", when) == "2024-01-15-overnight"
    a = batch_id_for_run("manual__1", "manual", when)
    b = batch_id_for_run("manual__2", "manual", when)
    assert a != b and a.startswith("2024-01-15-manual-")
    assert check_batch_id(a) == a


def test_one_rule_names_the_batch_of_a_run_and_a_chosen_batch_id_wins():
    from enum import Enum

    from nightshift_airflow.batch import batch_id_for_run, batch_id_of_run

    class RunType(Enum):
        MANUAL = "manual"

    when = dt.datetime(2024, 1, 15, 17, tzinfo=dt.UTC)
    assert batch_id_of_run("scheduled__x", "scheduled", when) == "2024-01-15-overnight"
    assert batch_id_of_run("manual__1", RunType.MANUAL, when) == batch_id_for_run("manual__1", "manual", when)
    assert batch_id_of_run("manual__1", RunType.MANUAL, when, "2024-01-01-rerun") == "2024-01-01-rerun"
    assert batch_id_of_run("scheduled__x", "scheduled", when, "") == "2024-01-15-overnight"


def test_manifest_order_priority_prefers_earlier_tickets():
    from nightshift_airflow.priority import MANIFEST_ORDER, ManifestOrder

    strategy = ManifestOrder()
    weights = [strategy.get_weight(SimpleNamespace(map_index=i)) for i in range(5)]
    assert weights == sorted(weights, reverse=True) and len(set(weights)) == 5
    assert strategy.get_weight(SimpleNamespace(map_index=-1)) == weights[0]
    assert MANIFEST_ORDER == "nightshift_airflow.priority.ManifestOrder"


def test_plugin_registers_the_priority_strategy():
    from nightshift_airflow.plugin import NightshiftPlugin
    from nightshift_airflow.priority import ManifestOrder

    assert ManifestOrder in NightshiftPlugin.priority_weight_strategies


def _state(tmp_path) -> tuple[str, BatchState]:
    url = f"file://{tmp_path}"
    return url, BatchState(ArtifactStore(url).batch("2026-01-05-overnight"))


def _first_event(trigger, timeout: float = 5.0):
    async def first():
        async for event in trigger.run():
            return event.payload
    return asyncio.run(asyncio.wait_for(first(), timeout))


def test_dependency_trigger_fires_when_every_dependency_has_an_outcome(tmp_path):
    from nightshift_airflow.triggers.batch_state import TicketDependencyTrigger

    url, state = _state(tmp_path)
    trigger = TicketDependencyTrigger(url, "2026-01-05-overnight", "P-3", ["P-1", "P-2"], poll_seconds=0.05)
    path, kwargs = trigger.serialize()
    again = TicketDependencyTrigger(**kwargs)
    assert path.endswith("TicketDependencyTrigger") and again.serialize() == (path, kwargs)
    assert again._check() is None
    for tid in ("P-1", "P-2"):
        state.save_outcome(TicketOutcome(ticket_id=tid, batch_id="2026-01-05-overnight", state=TicketState.COMPLETED))
    payload = _first_event(again)
    assert payload["outcomes"] == {"P-1": "completed", "P-2": "completed"}
    # Triggers only read: nothing new was written.
    assert sorted(state.artifacts.list("tickets")) == ["P-1", "P-2"]


def test_pause_trigger_waits_for_the_latest_reset(tmp_path):
    from nightshift_airflow.triggers.batch_state import RateLimitPauseTrigger

    url, state = _state(tmp_path)
    now = dt.datetime.now(dt.UTC)
    state.record_rate_limit("P-1", Checkpoint.C2, now + dt.timedelta(seconds=0.6), now)
    trigger = RateLimitPauseTrigger(url, "2026-01-05-overnight", poll_seconds=0.05)
    assert trigger._check()[0] is False
    payload = _first_event(trigger)
    assert dt.datetime.fromisoformat(payload["resumed_at"]) >= now + dt.timedelta(seconds=0.6)
