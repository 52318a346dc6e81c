"""The OpenAI-compatible stub used by the real-agent test, checked on its own (fast)."""

from __future__ import annotations

import json
import urllib.request

from tests.support.stub_model import StubModel


def post(url: str, body: dict, headers: dict | None = None) -> bytes:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def test_non_streaming_steps_follow_the_assistant_turns():
    with StubModel(["first", "second"]) as stub:
        url = f"{stub.base_url}/chat/completions"
        one = json.loads(post(url, {"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        two = json.loads(post(url, {"model": "m", "messages": [
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": "first"},
            {"role": "user", "content": "go on"}]}, {"Authorization": "Bearer test-key"}))
        again = json.loads(post(url, {"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        assert [r["choices"][0]["message"]["content"] for r in (one, two, again)] == ["first", "second", "first"]
        assert one["usage"]["total_tokens"] >= 1 and one["object"] == "chat.completion"
        assert len(stub.chat_requests()) == 3
        assert stub.chat_requests()[1]["headers"]["Authorization"] == "Bearer test-key"
        assert stub.chat_requests()[1]["body"]["messages"][2]["content"] == "go on"


def test_streaming_ends_with_usage_and_done():
    with StubModel(["streamed reply"]) as stub:
        raw = post(f"{stub.base_url}/chat/completions",
                   {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).decode()
        events = [line[len("data: "):] for line in raw.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "streamed reply"
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] >= 1


def test_models_and_request_log(tmp_path):
    log = tmp_path / "requests.jsonl"
    with StubModel(["x"], log_path=log) as stub:
        with urllib.request.urlopen(f"{stub.base_url}/models", timeout=10) as response:
            models = json.loads(response.read())
        assert models["data"][0]["id"] == "stub-model"
    assert json.loads(log.read_text().splitlines()[0])["path"] == "/v1/models"
