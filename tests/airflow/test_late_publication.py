"""A ticket whose MR is published after `gate_tickets` ran still gets gates: gate_tickets maps the gates
group over the tickets with an MR and those still in generation; a waiting row gates the MR once it is
published, or skips with the outcome's reason. No published MR is left without a gate row."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred

from nightshift.artifacts import ArtifactStore
from nightshift.generation.state import BatchState, PushRecord, TicketOutcome
from nightshift.manifest import dump_manifest
from nightshift.models import BatchManifest, BatchStatus, ManifestTicket, TicketState

BATCH = "2026-01-05-overnight"
IDS = ["P-1", "P-2", "P-3", "P-4"]
#: A manual run without windows; the review-window bound is tested with a scheduled night.
NO_WINDOWS = {"params": {"wait_for_windows": False}}


def make_state(tmp_path, status: BatchStatus = BatchStatus.RUNNING) -> tuple[BatchState, BatchManifest]:
    batch = ArtifactStore(f"file://{tmp_path / 'artifacts'}").batch(BATCH)
    manifest = BatchManifest(
        batch_id=BATCH,
        created_at="2026-01-05T17:00:00Z",
        tickets=[ManifestTicket(id=t) for t in IDS],
        status=status,
    )
    batch.write_text("manifest.yaml", dump_manifest(manifest))
    return BatchState(batch), manifest


def publish(state: BatchState, ticket_id: str, state_value: TicketState = TicketState.COMPLETED) -> None:
    """What generation records for a published MR: the pushed commit, then the outcome with the MR."""
    state.save_push(
        PushRecord(
            ticket_id=ticket_id, branch=f"agent/{ticket_id}", sha="a" * 40, base_branch="main",
            checkpoint_trailer="C2-complete",
        )
    )
    state.save_outcome(
        TicketOutcome(
            ticket_id=ticket_id, batch_id=BATCH, state=state_value, merge_request_iid=7,
            merge_request_url=f"http://gitlab.test/group/app/-/merge_requests/{ticket_id}",
        )
    )


def end_without_mr(state: BatchState, ticket_id: str, state_value: TicketState, reason: str) -> None:
    state.save_outcome(TicketOutcome(ticket_id=ticket_id, batch_id=BATCH, state=state_value, reason=reason))


def test_tickets_still_in_generation_get_a_row(tmp_path):
    from nightshift_airflow.operators.gates import tickets_to_gate

    state, manifest = make_state(tmp_path)
    publish(state, "P-1")
    end_without_mr(state, "P-2", TicketState.CARRIED_OVER, "C2 was stopped at the gates window")
    rows, pending = tickets_to_gate(state, manifest)
    assert rows == ["P-1", "P-3", "P-4"] and pending == ["P-3", "P-4"]
    assert tickets_to_gate(state, manifest, dry_run=True) == (["P-1"], [])


@pytest.fixture
def sensor_for(tmp_path, monkeypatch):
    """PipelineSensor with a light gate context (records only) and the pipeline wait replaced by a marker."""
    from nightshift.gates import stage
    from nightshift.generation.batch import read_manifest
    from nightshift_airflow.operators import gates
    from nightshift_airflow.sensors.pipeline import PipelineSensor

    state, _ = make_state(tmp_path)

    def light_context(context, config=None):
        ctx = SimpleNamespace(
            state=state, manifest=read_manifest(state.artifacts), batch_id=BATCH, dry_run=False
        )
        return ctx, "gitlab_default"

    def reached(ctx, ticket_id):
        return stage.Decision(action="skip", reason=f"{ticket_id}: reached the pipeline wait")

    monkeypatch.setattr(gates, "gate_context", light_context)
    monkeypatch.setattr(stage, "pipeline_target", reached)

    def make(ticket_id: str) -> PipelineSensor:
        return PipelineSensor(task_id="pipeline", ticket_id=ticket_id, poll_seconds=0.01)

    return state, make


def test_a_row_waits_for_an_mr_published_after_gate_tickets_then_gates_it(sensor_for):
    from nightshift_airflow.triggers.batch_state import TicketDependencyTrigger

    state, make = sensor_for
    sensor = make("P-3")
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(NO_WINDOWS)
    trigger = deferred.value.trigger
    assert isinstance(trigger, TicketDependencyTrigger) and trigger.dependencies == ["P-3"]
    assert deferred.value.method_name == "resume_after_generation"
    assert trigger._check() is None  # nothing published yet: the trigger keeps waiting

    publish(state, "P-3")  # the MR is opened after the gates window (and after gate_tickets)
    assert trigger._check() is not None
    with pytest.raises(AirflowSkipException, match="P-3: reached the pipeline wait"):
        sensor.resume_after_generation(NO_WINDOWS, trigger._check())


def test_a_row_whose_ticket_ends_without_an_mr_skips_with_its_reason(sensor_for):
    state, make = sensor_for
    end_without_mr(state, "P-4", TicketState.CARRIED_OVER, "C0 (timeout 0:30:00) could not finish before 06:00")
    with pytest.raises(AirflowSkipException, match=r"P-4: no merge request to gate: carried_over: C0 \(timeout"):
        make("P-4").execute(NO_WINDOWS)


def test_a_row_left_without_an_outcome_after_generation_skips_with_the_reason(sensor_for, tmp_path):
    state, make = sensor_for
    manifest = BatchManifest(
        batch_id=BATCH, created_at="2026-01-05T17:00:00Z", tickets=[ManifestTicket(id=t) for t in IDS],
        status=BatchStatus.ABORTED,
    )
    state.artifacts.write_text("manifest.yaml", dump_manifest(manifest))
    with pytest.raises(AirflowSkipException, match="P-3: generation is over \\(aborted\\)"):
        make("P-3").execute(NO_WINDOWS)


def test_a_row_stops_waiting_when_the_review_window_opens(sensor_for, monkeypatch):
    """The morning queue is not held back: the wait ends at the review window, with the reason."""
    import datetime as dt

    from nightshift.config import cached_config

    monkeypatch.delenv("NIGHTSHIFT_CONFIG", raising=False)
    cached_config.cache_clear()
    state, make = sensor_for
    night = {"params": {}, "dag_run": SimpleNamespace(logical_date=dt.datetime(2026, 1, 5, 17, tzinfo=dt.UTC))}
    with pytest.raises(AirflowSkipException, match="P-3: still in generation when the review window opened"):
        make("P-3").execute(night)
    tonight = dt.datetime.now(dt.UTC).replace(hour=17, minute=0, second=0, microsecond=0)
    night["dag_run"] = SimpleNamespace(logical_date=tonight)  # its review window is tomorrow morning
    with pytest.raises(TaskDeferred) as deferred:
        make("P-3").execute(night)
    assert dt.datetime.fromisoformat(deferred.value.trigger.not_after) > dt.datetime.now(dt.UTC)
    cached_config.cache_clear()


# What a ticket can look like when gate_tickets runs, and how it can end afterwards.
AT_GATE_TICKETS = ["in generation", "published", "partial MR", "failed", "carried over", "escalated"]
LATER = ["published", "partial MR", "failed", "carried over"]


def _apply(state: BatchState, ticket_id: str, what: str) -> None:
    if what == "published":
        publish(state, ticket_id)
    elif what == "partial MR":
        publish(state, ticket_id, TicketState.PARTIAL)
    elif what == "failed":
        end_without_mr(state, ticket_id, TicketState.FAILED, "C1 failed: the agent exited 1")
    elif what == "carried over":
        end_without_mr(state, ticket_id, TicketState.CARRIED_OVER, "C2 was stopped at the gates window")
    elif what == "escalated":
        end_without_mr(state, ticket_id, TicketState.ESCALATED, "touches .gitlab-ci.yml")


@pytest.mark.parametrize(("now", "later"), list(itertools.product(AT_GATE_TICKETS, LATER)))
def test_no_published_mr_is_left_without_a_gate_row_or_an_explicit_reason(tmp_path, now, later):
    """Whatever a ticket is doing when gate_tickets runs and however it ends, a ticket that ends with a
    published MR has a gates row; one without a row has an outcome with its reason."""
    from nightshift.gates.stage import gated
    from nightshift_airflow.operators.gates import tickets_to_gate

    state, manifest = make_state(tmp_path)
    if now != "in generation":
        _apply(state, "P-1", now)
    rows, _ = tickets_to_gate(state, manifest)
    if now == "in generation":
        _apply(state, "P-1", later)  # after gate_tickets: outcomes are written once, so only now
    final = state.outcome("P-1")
    assert final is not None
    if gated(final, state.push_record("P-1")):
        assert "P-1" in rows, f"{now} -> {later}: a published MR without a gates row"
    elif "P-1" not in rows:
        assert final.reason, f"{now} -> {later}: no gates row and no reason"


def test_the_outcome_trigger_fires_at_its_not_after_and_serialises_it(tmp_path):
    from nightshift_airflow.triggers.batch_state import TicketDependencyTrigger

    state, _ = make_state(tmp_path)
    url = state.artifacts.store.url
    waiting = TicketDependencyTrigger(url, BATCH, "P-3", ["P-3"], not_after="2999-01-01T08:00:00+00:00")
    assert waiting._check() is None
    assert waiting.serialize()[1]["not_after"] == "2999-01-01T08:00:00+00:00"
    late = TicketDependencyTrigger(url, BATCH, "P-3", ["P-3"], not_after="2026-01-06T08:00:00+00:00")
    assert late._check() == {"ticket_id": "P-3", "timed_out": True}
