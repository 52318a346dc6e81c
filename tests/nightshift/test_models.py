import pytest
from pydantic import ValidationError

from nightshift.models import (
    BatchConfig,
    BatchStatus,
    InvalidTransition,
    Ticket,
    TicketState,
    check_ticket_id,
    format_duration,
    parse_duration,
    transition_batch,
    transition_ticket,
)


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("1h", 3600), ("90s", 90), ("1h30m", 5400)])
def test_durations_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "30x", "m", "-5m", "0m", "1.5h", "30 minutes"])
def test_bad_durations_are_rejected(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration_inverts_parse():
    for text in ("30m", "1h", "90s"):
        assert format_duration(parse_duration(text)) == text


def test_batch_config_reports_duration_and_parallelism():
    with pytest.raises(ValidationError) as err:
        BatchConfig(timeout_per_ticket="soon", parallel_agents=0)
    fields = {e["loc"][0] for e in err.value.errors()}
    assert fields == {"timeout_per_ticket", "parallel_agents"}
    assert BatchConfig(timeout_per_ticket="90s").timeout_seconds == 90


@pytest.mark.parametrize(
    "bad",
    [
        "PROJ-1$(id)",
        "-upload-pack=evil",
        "PROJ-١٢",
        "PROJ-1\u202e",
        "proj-1",
        "P" * 30 + "-1",
        "PROJ-",
        "PROJ_1",
        "../PROJ-1",
        "PROJ-1\n",
        "PROJ-1 ",
        "PROJ-0123456789",
    ],
)
def test_malicious_ticket_ids_are_rejected(bad):
    with pytest.raises(ValueError):
        check_ticket_id(bad)


def test_ticket_rejects_paths_leaving_the_repository():
    with pytest.raises(ValidationError):
        Ticket(id="PROJ-1", estimated_files=["../etc/passwd"])
    with pytest.raises(ValidationError):
        Ticket(id="PROJ-1", estimated_files=["/etc/passwd"])
    assert Ticket(id="PROJ-1", estimated_files=["src/api/*"]).estimated_files == ["src/api/*"]


def test_batch_status_transitions():
    assert transition_batch(BatchStatus.PENDING, BatchStatus.RUNNING) == BatchStatus.RUNNING
    assert transition_batch(BatchStatus.RUNNING, BatchStatus.ABORTED) == BatchStatus.ABORTED
    assert transition_batch(BatchStatus.COMPLETED, BatchStatus.COMPLETED) == BatchStatus.COMPLETED
    with pytest.raises(InvalidTransition):
        transition_batch(BatchStatus.PENDING, BatchStatus.REVIEWED)
    with pytest.raises(InvalidTransition):
        transition_batch(BatchStatus.ABORTED, BatchStatus.RUNNING)


def test_ticket_state_transitions_name_the_ticket():
    assert transition_ticket("PROJ-1", TicketState.RUNNING, TicketState.PARTIAL) == TicketState.PARTIAL
    assert (
        transition_ticket("PROJ-1", TicketState.SKIPPED, TicketState.CARRIED_OVER) == TicketState.CARRIED_OVER
    )
    with pytest.raises(InvalidTransition, match="PROJ-1"):
        transition_ticket("PROJ-1", TicketState.COMPLETED, TicketState.RUNNING)
    with pytest.raises(InvalidTransition):
        transition_ticket("PROJ-1", TicketState.FAILED, TicketState.COMPLETED)
