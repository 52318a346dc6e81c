"""An OpenAI-compatible model stub on 127.0.0.1 (standard library only), for running real agent CLIs offline.

- POST /v1/chat/completions: non-streaming JSON, or SSE chunks when the request says "stream": true
  (role chunk, content chunk, finish chunk, a usage chunk, then `data: [DONE]`).
- GET /v1/models: one model.
- The reply is chosen from the request itself: the number of assistant messages already in it picks
  the step, so a client retry gets the same answer.
- Every request (path, headers, body) is logged in `requests` (and to `log_path` if given), so a test
  can assert what the agent sent.
- `rate_limit_after=N`: completions beyond the first N are answered HTTP 429 with `retry-after` and
  OpenAI's error body ("Please try again in Ns."), as the real API does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.support.loopback import JsonHandler, LoopbackServer

Script = Sequence[str] | Callable[[dict[str, Any]], str]


def assistant_turns(body: dict[str, Any]) -> int:
    return sum(1 for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") == "assistant")


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


class StubModel(LoopbackServer):
    """Run with `with StubModel([...]) as stub:`; point the client at stub.base_url."""

    def __init__(
        self,
        script: Script,
        *,
        model: str = "stub-model",
        log_path: Path | None = None,
        rate_limit_after: int | None = None,
        retry_after: int = 7,
    ) -> None:
        self.script = script
        self.rate_limit_after = rate_limit_after
        self.retry_after = retry_after
        self.model = model
        self.log_path = log_path
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__()

    thread_name = "stub-model"

    def handler(self) -> type[JsonHandler]:
        stub = self

        class Handler(JsonHandler):

            def do_GET(self) -> None:
                stub._record(self.path, dict(self.headers), None, "")
                if self.path.rstrip("/").endswith("/models"):
                    self.send_json(
                        200,
                        {
                            "object": "list",
                            "data": [
                                {
                                    "id": stub.model,
                                    "object": "model",
                                    "created": 0,
                                    "owned_by": "nightshift-tests",
                                }
                            ],
                        },
                    )
                else:
                    self.send_json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                raw, body = self.read_json()
                stub._record(self.path, dict(self.headers), body, raw)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self.send_json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if not isinstance(body, dict):
                    self.send_json(400, {"error": {"message": "body is not a JSON object"}})
                    return
                if stub.rate_limit_after is not None and len(stub.chat_requests()) > stub.rate_limit_after:
                    error = {
                        "message": f"Rate limit reached for requests. Please try again in {stub.retry_after}s.",
                        "type": "requests",
                        "code": "rate_limit_exceeded",
                    }
                    self.send_json(429, {"error": error}, {"retry-after": str(stub.retry_after)})
                    return
                reply = stub.reply_for(body)
                prompt_tokens = (
                    sum(len(_text(m)) for m in body.get("messages", []) if isinstance(m, dict)) // 4
                )
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": max(1, len(reply) // 4),
                    "total_tokens": prompt_tokens + max(1, len(reply) // 4),
                }
                ident = f"chatcmpl-stub-{len(stub.requests)}"
                created = int(time.time())
                model = body.get("model") or stub.model
                if body.get("stream"):
                    self.start_event_stream()
                    base = {
                        "id": ident,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                    }
                    chunks = [
                        {
                            **base,
                            "choices": [
                                {
                                    "index": 0,
                                    "delta": {"role": "assistant", "content": ""},
                                    "finish_reason": None,
                                }
                            ],
                        },
                        {
                            **base,
                            "choices": [{"index": 0, "delta": {"content": reply}, "finish_reason": None}],
                        },
                        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                        {**base, "choices": [], "usage": usage},
                    ]
                    for chunk in chunks:
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_json(
                    200,
                    {
                        "id": ident,
                        "object": "chat.completion",
                        "created": created,
                        "model": model,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": usage,
                    },
                )

        return Handler

    # -- behaviour --
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reply_for(self, body: dict[str, Any]) -> str:
        if callable(self.script):
            return self.script(body)
        steps = list(self.script)
        return steps[min(assistant_turns(body), len(steps) - 1)]

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].rstrip("/").endswith("/chat/completions")]

    def _record(self, path: str, headers: dict[str, str], body: Any, raw: str) -> None:
        entry = {"path": path, "headers": headers, "body": body, "raw": raw}
        with self._lock:
            self.requests.append(entry)
            if self.log_path is not None:
                with self.log_path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry) + "\n")
