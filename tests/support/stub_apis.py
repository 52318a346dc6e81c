"""Model-API stubs on 127.0.0.1 for the two streaming protocols the npm agent CLIs speak (standard library).

- AnthropicStub: `POST /v1/messages` (Claude Code adds `?beta=true`), always answered as the Messages
  API's SSE stream: message_start (usage incl. cache tokens), one content block per scripted block
  (`text`, or `tool_use` with its input streamed as input_json_delta), message_delta (stop_reason,
  usage), message_stop. `HEAD /` answers 200 (Claude Code probes it).
- ResponsesStub: `POST /v1/responses` (Codex CLI), the Responses API SSE stream: response.created,
  output_item.added/done per item (`function_call` or `message`), response.completed with usage
  (input_tokens_details.cached_tokens, output_tokens_details.reasoning_tokens).

A script is a callable `script(body) -> list[Block]`: the test reads the request (its turn count, its
tool results) and returns what the model "says". Block is {"text": ...} or {"tool": name, "input": {...}}.
Usage per reply is fixed (USAGE) so tests can assert exact sums.

`rate_limit_after = N`: requests beyond the first N are answered HTTP 429 with `retry-after` (seconds)
and the vendor's error body, so a test can see how each CLI reports a rate limit. Every request is
logged (path, headers, body) in `requests`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from tests.support.loopback import JsonHandler, LoopbackServer

Block = dict[str, Any]
Script = Callable[[dict[str, Any]], list[Block]]

#: Tokens every stub reply reports (Anthropic: input, output, cache write, cache read; OpenAI: input,
#: output, cached part of input).
USAGE = {"input": 100, "output": 20, "cache_write": 10, "cache_read": 30}


class _Stub(LoopbackServer):
    """Shared server, logging and 429 handling; subclasses render the protocol."""

    post_suffix = ""

    def __init__(self, script: Script, *, rate_limit_after: int | None = None, retry_after: int = 7) -> None:
        self.script = script
        self.rate_limit_after = rate_limit_after
        self.retry_after = retry_after
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__()

    thread_name = "stub-api"

    def handler(self) -> type[JsonHandler]:
        stub = self

        class Handler(JsonHandler):
            def do_HEAD(self) -> None:
                stub._record("HEAD", self.path, dict(self.headers), None, "")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                stub._record("GET", self.path, dict(self.headers), None, "")
                self.send_json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                raw, body = self.read_json()
                body = body if isinstance(body, dict) else {}
                count = stub._record("POST", self.path, dict(self.headers), body, raw)
                if not self.path.split("?")[0].rstrip("/").endswith(stub.post_suffix):
                    self.send_json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if stub.rate_limit_after is not None and count > stub.rate_limit_after:
                    payload, headers = stub.rate_limit_reply()
                    self.send_json(429, payload, {"retry-after": str(stub.retry_after), **headers})
                    return
                events = stub.events(body, stub.script(body), count)
                self.start_event_stream()
                for name, data in events:
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()
                self.close_connection = True

        return Handler

    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST"]

    def _record(self, method: str, path: str, headers: dict[str, str], body: Any, raw: str) -> int:
        with self._lock:
            self.requests.append(
                {"method": method, "path": path, "headers": headers, "body": body, "raw": raw}
            )
            return sum(1 for r in self.requests if r["method"] == "POST")

    # -- protocol --
    def events(self, body: dict[str, Any], blocks: list[Block], count: int) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def rate_limit_reply(self) -> tuple[dict[str, Any], dict[str, str]]:
        raise NotImplementedError


class AnthropicStub(_Stub):
    """Anthropic Messages API (streaming, tool use). Base URL for clients: `base_url` (no /v1)."""

    post_suffix = "/v1/messages"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def events(self, body: dict[str, Any], blocks: list[Block], count: int) -> list[tuple[str, Any]]:
        model = body.get("model") or "stub-model"
        usage = {
            "input_tokens": USAGE["input"],
            "output_tokens": 1,
            "cache_creation_input_tokens": USAGE["cache_write"],
            "cache_read_input_tokens": USAGE["cache_read"],
        }
        message = {
            "id": f"msg_stub_{count}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        out: list[tuple[str, Any]] = [("message_start", {"type": "message_start", "message": message})]
        stop = "end_turn"
        for index, block in enumerate(blocks):
            if "tool" in block:
                stop = "tool_use"
                start = {
                    "type": "tool_use",
                    "id": f"toolu_stub_{count}_{index}",
                    "name": block["tool"],
                    "input": {},
                }
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            else:
                start = {"type": "text", "text": ""}
                delta = {"type": "text_delta", "text": block["text"]}
            out += [
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": start},
                ),
                ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
                ("content_block_stop", {"type": "content_block_stop", "index": index}),
            ]
        out += [
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": USAGE["output"]},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return out

    def rate_limit_reply(self) -> tuple[dict[str, Any], dict[str, str]]:
        payload = {
            "type": "error",
            "error": {
                "type": "rate_limit_error",
                "message": "Number of request tokens has exceeded your rate limit.",
            },
        }
        return payload, {}


class ResponsesStub(_Stub):
    """OpenAI Responses API (streaming, function calls). Base URL for clients: `base_url` (with /v1)."""

    post_suffix = "/v1/responses"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def events(self, body: dict[str, Any], blocks: list[Block], count: int) -> list[tuple[str, Any]]:
        rid = f"resp_stub_{count}"
        items: list[dict[str, Any]] = []
        for index, block in enumerate(blocks):
            if "tool" in block:
                items.append(
                    {
                        "type": "function_call",
                        "id": f"fc_stub_{count}_{index}",
                        "call_id": f"call_stub_{count}_{index}",
                        "name": block["tool"],
                        "arguments": json.dumps(block["input"]),
                        "status": "completed",
                    }
                )
            else:
                items.append(
                    {
                        "type": "message",
                        "id": f"msg_stub_{count}_{index}",
                        "role": "assistant",
                        "status": "completed",
                        "content": [{"type": "output_text", "text": block["text"], "annotations": []}],
                    }
                )
        base = {
            "id": rid,
            "object": "response",
            "model": body.get("model") or "stub-model",
            "status": "in_progress",
        }
        out: list[tuple[str, Any]] = [
            ("response.created", {"type": "response.created", "response": {**base, "output": []}})
        ]
        for index, item in enumerate(items):
            out.append(
                (
                    "response.output_item.added",
                    {"type": "response.output_item.added", "output_index": index, "item": item},
                )
            )
            out.append(
                (
                    "response.output_item.done",
                    {"type": "response.output_item.done", "output_index": index, "item": item},
                )
            )
        usage = {
            "input_tokens": USAGE["input"] + USAGE["cache_read"],
            "input_tokens_details": {"cached_tokens": USAGE["cache_read"]},
            "output_tokens": USAGE["output"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": USAGE["input"] + USAGE["cache_read"] + USAGE["output"],
        }
        done = {**base, "status": "completed", "output": items, "usage": usage}
        out.append(("response.completed", {"type": "response.completed", "response": done}))
        return out

    def rate_limit_reply(self) -> tuple[dict[str, Any], dict[str, str]]:
        payload = {
            "error": {
                "message": "Rate limit reached for requests. Please try again in 7s.",
                "type": "requests",
                "code": "rate_limit_exceeded",
            }
        }
        return payload, {"x-ratelimit-reset-requests": f"{self.retry_after}s"}


def tool_results(body: dict[str, Any]) -> int:
    """How many tool results the conversation already holds (Anthropic tool_result blocks, Responses
    function_call_output items): the scripted step to answer next."""
    count = 0
    for message in body.get("messages", []) or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            count += sum(
                1 for part in content if isinstance(part, dict) and part.get("type") == "tool_result"
            )
    for item in body.get("input", []) or []:
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            count += 1
    return count
