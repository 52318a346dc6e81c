"""The HTTP plumbing the model-API stubs share: a threaded server on 127.0.0.1 (a free port, daemon
threads, stopped by `stop()` or the `with` block) and a request handler that reads JSON and answers it.

Each stub only says how it answers (`handler()`); starting, stopping and the port are spelled here once.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class JsonHandler(BaseHTTPRequestHandler):
    """HTTP/1.1, quiet in pytest's output, with JSON in and out."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def read_json(self) -> tuple[str, Any]:
        """The raw body (decoded, lenient) and its JSON value ({} when empty, None when not JSON)."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        try:
            return raw, (json.loads(raw) if raw else {})
        except ValueError:
            return raw, None

    def send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_event_stream(self) -> None:
        """Headers of a server-sent-event reply; the connection closes when the stream ends."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()


class LoopbackServer:
    """A stub server's life cycle: `with Stub(...) as stub:` or `start()`/`stop()`."""

    thread_name = "stub-server"

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class, bound to this stub."""
        raise NotImplementedError

    def start(self) -> Self:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name=self.thread_name, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start the stub first"
        return int(self._server.server_address[1])
