"""The Messages and Responses stubs speak their protocols (the real CLIs use them in tests/agentcli)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.support.stub_apis import USAGE, AnthropicStub, ResponsesStub, tool_results


def _post(url: str, body: dict) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def _events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def script(body):
    return (
        [{"tool": "Read", "input": {"file_path": "/w/a.py"}}]
        if tool_results(body) == 0
        else [{"text": "done"}]
    )


def test_anthropic_stream_with_tool_use_and_usage():
    with AnthropicStub(script) as stub:
        status, _, text = _post(f"{stub.base_url}/v1/messages?beta=true", {"messages": [], "stream": True})
    events = _events(text)
    assert status == 200 and events[0][0] == "message_start" and events[-1][0] == "message_stop"
    start = events[0][1]["message"]["usage"]
    assert start["cache_read_input_tokens"] == USAGE["cache_read"]
    block = next(d for e, d in events if e == "content_block_start")["content_block"]
    delta = next(d for e, d in events if e == "content_block_delta")["delta"]
    assert block["type"] == "tool_use" and block["name"] == "Read"
    assert json.loads(delta["partial_json"]) == {"file_path": "/w/a.py"}
    assert next(d for e, d in events if e == "message_delta")["delta"]["stop_reason"] == "tool_use"


def test_responses_stream_with_function_call_then_message():
    with ResponsesStub(script) as stub:
        _, _, first = _post(f"{stub.base_url}/responses", {"input": [], "stream": True})
        _, _, second = _post(
            f"{stub.base_url}/responses",
            {"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]},
        )
    done = _events(first)[-1][1]["response"]
    assert done["output"][0]["type"] == "function_call" and done["output"][0]["name"] == "Read"
    assert done["usage"]["input_tokens_details"]["cached_tokens"] == USAGE["cache_read"]
    final = _events(second)[-1][1]["response"]["output"][0]
    assert final["type"] == "message" and final["content"][0]["text"] == "done"


@pytest.mark.parametrize("stub_type", [AnthropicStub, ResponsesStub])
def test_rate_limit_reply_has_retry_after(stub_type):
    with stub_type(script, rate_limit_after=0, retry_after=9) as stub:
        path = "/v1/messages" if stub_type is AnthropicStub else "/v1/responses"
        status, headers, text = _post(f"http://127.0.0.1:{stub.port}{path}", {"stream": True})
    assert status == 429 and {k.lower(): v for k, v in headers.items()}["retry-after"] == "9"
    assert "rate" in text.lower()
