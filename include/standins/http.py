"""The common machinery of the stand-in servers (test doubles of GitLab and Jira, clearly not the real ones).

A stand-in keeps state, routes on the raw request path (so `group%2Fproject` arrives as sent), records
every request in a journal for assertions, and can inject faults: 5xx, "5xx after the object was created"
(a lost response), 429 with or without Retry-After, latency, and dropped connections (before or after the
request was handled).

Request bodies may be sent with Content-Length or `Transfer-Encoding: chunked` (git pushes use the latter).

Servers bind to 127.0.0.1 on a free port and run in a daemon thread, so they stop with the test process.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Request:
    method: str
    raw_path: str  # path exactly as sent, percent-encoding kept
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # route parameters, percent-decoded
    context: dict[str, Any] = field(default_factory=dict)  # set by authenticate(), e.g. the caller's user

    def json(self) -> Any:
        if not self.body:
            return {}
        ctype = self.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" in ctype:
            return {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}
        return json.loads(self.body)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes/str with content_type
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class HttpError(Exception):
    """Raise from a handler to answer with an error status and a JSON message."""

    def __init__(self, status: int, message: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Fault:
    """One injected fault. `match` is (method, regex on the raw path); `times` how often it fires."""

    method: str
    path_regex: str
    kind: str  # "status", "status_after" (handle, then answer status), "drop", "drop_after", "latency"
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and re.search(self.path_regex, path) is not None


@dataclass
class JournalEntry:
    method: str
    path: str
    status: int
    body: bytes
    at: float
    headers: dict[str, str] = field(default_factory=dict)  # request headers, lower-case names


Handler = Callable[[Request], Response | Any]


class StandinServer:
    """Base class: subclasses register routes with `self.route(METHOD, pattern, handler)`.

    Patterns use `{name}` for one path segment (matched on the raw, still-encoded path; the value is
    percent-decoded before the handler sees it) and `{name:path}` for the rest of the path.
    """

    name = "standin"

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[Fault] = []
        self.journal: list[JournalEntry] = []
        self.lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()  # wakes handlers sleeping in a latency fault when stopping
        self.base_url = ""

    # --- routing -------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def authenticate(self, request: Request) -> None:
        """Raise HttpError(401/403) when the request's credentials are not accepted."""

    # --- faults and journal ----------------------------------------------------------------------
    def inject(self, fault: Fault) -> Fault:
        with self.lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def requests(self, method: str | None = None, path_regex: str | None = None) -> list[JournalEntry]:
        with self.lock:
            return [
                e
                for e in self.journal
                if (method is None or e.method == method)
                and (path_regex is None or re.search(path_regex, e.path))
            ]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    # --- dispatch ----------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        split = urlsplit(request.raw_path)
        path = split.path
        for method, regex, handler in self._routes:
            if method != request.method:
                continue
            m = regex.match(path)
            if m is None:
                continue
            request.params = {k: unquote(v) for k, v in m.groupdict().items()}
            self.authenticate(request)
            result = handler(request)
            return result if isinstance(result, Response) else Response(body=result)
        raise HttpError(404, "404 Not Found")

    # --- lifecycle -----------------------------------------------------------------------------------
    def start(self, port: int = 0) -> StandinServer:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle on, keep-alive clients wait ~40 ms
            # for the delayed ACK on every request.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    return _read_chunked(self.rfile)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                body = self._read_body()
                split = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    raw_path=self.path,
                    query=parse_qs(split.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                fault = server._take_fault(self.command, split.path)
                if fault is not None and fault.kind == "latency":
                    if server._stopping.wait(fault.seconds):
                        self.close_connection = True  # stopping: answer nothing
                        return
                    fault = None
                if fault is not None and fault.kind == "drop":
                    server._record(request, 0)
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault is not None and fault.kind == "status":
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                    response = Response(
                        status=fault.status, body={"message": f"injected {fault.status}"}, headers=headers
                    )
                else:
                    response = server._safe_dispatch(request)
                    if fault is not None and fault.kind == "drop_after":
                        server._record(request, 0)  # the object exists, but the client never hears of it
                        self.close_connection = True
                        self.connection.close()
                        return
                    if fault is not None and fault.kind == "status_after":
                        response = Response(status=fault.status, body={"message": f"injected {fault.status}"})
                server._record(request, response.status)
                self._send(response)

            def _send(self, response: Response) -> None:
                if response.content_type == "application/json":
                    payload = (
                        b""
                        if response.body is None and response.status == 204
                        else json.dumps(response.body, default=str).encode()
                    )
                elif isinstance(response.body, str):
                    payload = response.body.encode()
                else:
                    payload = response.body or b""
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        self._stopping.clear()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        httpd = self._httpd
        self._thread = threading.Thread(
            # A short poll interval makes stop() return in ~50 ms instead of ~0.5 s.
            target=lambda: httpd.serve_forever(poll_interval=0.05),
            name=f"{self.name}-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> StandinServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- internals -------------------------------------------------------------------------------------
    def _safe_dispatch(self, request: Request) -> Response:
        try:
            with self.lock:
                return self.dispatch(request)
        except HttpError as exc:
            body = exc.message if isinstance(exc.message, dict) else {"message": exc.message}
            return Response(status=exc.status, body=body, headers=dict(exc.headers))
        except (ValueError, KeyError) as exc:
            return Response(status=400, body={"message": f"400 Bad request: {exc}"})

    def _record(self, request: Request, status: int) -> None:
        with self.lock:
            self.journal.append(
                JournalEntry(
                    request.method, request.raw_path, status, request.body, time.time(), dict(request.headers)
                )
            )


def _read_chunked(stream: Any, limit: int = 512 * 1024 * 1024) -> bytes:
    """Read a `Transfer-Encoding: chunked` body (RFC 9112 section 7.1), trailers discarded."""
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = stream.readline(1024)
        if not size_line:
            raise ConnectionError("connection closed inside a chunked body")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline(8192) not in (b"\r\n", b"\n", b""):
                pass  # trailer fields
            return b"".join(parts)
        total += size
        if total > limit:
            raise ValueError("chunked request body too large")
        parts.append(stream.read(size))
        stream.readline(8)  # the CRLF after each chunk
