"""The checkpoint contract: round trips and every way an agent's answer can be wrong."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from nightshift.agents.contract import (
    Checkpoint,
    CheckpointRequest,
    CheckpointResult,
    ImplementResult,
    Limits,
    PlanResult,
    ScopeResult,
    TokenUsage,
    parse_result,
)
from nightshift.models import Ticket


def full_request() -> CheckpointRequest:
    c0 = CheckpointResult(checkpoint=Checkpoint.C0, status="ok", scope=ScopeResult(summary="s", files=["a.py"]))
    c1 = CheckpointResult(checkpoint=Checkpoint.C1, status="ok",
                          plan=PlanResult(plan="p", risks=["r"], complexity="small"))
    return CheckpointRequest(
        batch_id="2024-01-15-overnight",
        ticket=Ticket(id="PROJ-142", title="Auth", estimated_files=["src/auth.py"], acceptance_criteria=["login"]),
        checkpoint=Checkpoint.C2, workspace="/srv/wt/PROJ-142", previous={"C0": c0, "C1": c1},
        limits=Limits(timeout_seconds=1800), escalation_answer="use JWT",
    )


def test_request_round_trip():
    request = full_request()
    again = CheckpointRequest.model_validate_json(request.model_dump_json())
    assert again == request
    assert again.previous["C1"].plan.risks == ["r"]


@pytest.mark.parametrize("result", [
    CheckpointResult(checkpoint=Checkpoint.C2, status="partial",
                     implementation=ImplementResult(files_changed=["a.py"], remaining_work=["b"]),
                     usage=TokenUsage(input_tokens=10, output_tokens=2, cost_usd=0.01)),
    CheckpointResult(checkpoint=Checkpoint.C1, status="escalate", plan=PlanResult(escalation_reason="why")),
    CheckpointResult(checkpoint=Checkpoint.C0, status="rate_limited",
                     rate_limit_reset_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC)),
])
def test_result_round_trip(result):
    assert parse_result(result.checkpoint, result.model_dump_json()) == result


@pytest.mark.parametrize("raw, reason", [
    (None, "the agent wrote no result"),
    ("", "the agent wrote no result"),
    (b"   \n", "the agent wrote no result"),
    ("{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    ("[]", "invalid at result"),
    ('{"checkpoint": "C2"}', "invalid at status"),
    ('{"checkpoint": "C2", "status": "done"}', "invalid at status"),
    ('{"checkpoint": "C2", "status": "ok", "extra": 1}', "invalid at extra"),
    ('{"checkpoint": "C7", "status": "ok"}', "invalid at checkpoint"),
    ('{"checkpoint": "C1", "status": "ok"}', "answered checkpoint C1 when asked for C2"),
    ('{"checkpoint": "C2", "status": "ok", "usage": {"input_tokens": "lots"}}', "invalid at usage.input_tokens"),
    ('{"checkpoint": "C2", "status": "ok", "rate_limit_reset_at": "soon"}', "invalid at rate_limit_reset_at"),
])
def test_bad_results_become_failed_checkpoints(raw, reason):
    result = parse_result(Checkpoint.C2, raw)
    assert result.status == "failed" and result.checkpoint == Checkpoint.C2
    assert reason in result.reason


def test_request_rejects_unknown_fields_and_bad_ids():
    data = json.loads(full_request().model_dump_json())
    with pytest.raises(ValueError):
        CheckpointRequest.model_validate({**data, "surprise": 1})
    data["ticket"]["id"] = "PROJ-1$(id)"
    with pytest.raises(ValueError):
        CheckpointRequest.model_validate(data)
