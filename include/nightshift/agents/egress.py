"""Egress through an allow-list (security fact 13): the only way out of a sandbox with `network: allow`.

The agent never shares the worker's network namespace. Its sandbox has a private loopback only; a tiny
bridge inside it (egress_bridge.py) listens on 127.0.0.1:PROXY_PORT and forwards every connection to a
unix socket bound into the sandbox, where this module's proxy listens on the host side, one proxy per
agent run. HTTPS_PROXY/HTTP_PROXY/ALL_PROXY point the agent's HTTP clients at it.

The proxy speaks HTTP CONNECT (for TLS) and plain-HTTP forwarding, and for each request:
1. the destination host:port must match `allowed_hosts` (exact, or `*.example.com:443`); otherwise 403,
   without even resolving the name;
2. the name is resolved once, and every resolved address is checked: loopback, private (RFC 1918,
   ULA), link-local (169.254.0.0/16 incl. the metadata address, fe80::/10), CGNAT, multicast, reserved,
   unspecified and the host's own addresses are ALWAYS refused, whatever the allow-list says;
3. the connection goes to a checked address (never the name again), so DNS rebinding cannot swap a
   loopback address in between check and connect.

`allow_loopback_ports` is a TEST-ONLY escape hatch: the stub model of the tests listens on the host's
loopback. Production config never sets it (config.py says so and requires the port to be allow-listed).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from nightshift.agents.sandbox import Mount

log = logging.getLogger(__name__)

#: Where the agent finds the proxy inside its sandbox (its own loopback, not the host's).
PROXY_PORT = 3128
PROXY_URL = f"http://127.0.0.1:{PROXY_PORT}"
SANDBOX_SOCKET = Path("/nightshift/egress.sock")
SANDBOX_BRIDGE = Path("/nightshift/egress_bridge.py")
BRIDGE_SCRIPT = Path(__file__).with_name("egress_bridge.py")

_MAX_HEAD_BYTES = 16 * 1024
_HEAD_TIMEOUT = 30.0
_CONNECT_TIMEOUT = 15.0
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_HOP_HEADERS = ("connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# --------------------------------------------------------------------------- policy


def split_host_port(text: str, default_port: int | None = None) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port); ValueError on anything else."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if not sep:
            raise ValueError(f"bad address {text!r}")
    else:
        host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    if not port_text:
        if default_port is None:
            raise ValueError(f"{text!r} has no port")
        port_text = str(default_port)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536 or not host:
        raise ValueError(f"bad address {text!r}")
    return host.lower().rstrip("."), int(port_text)


def own_addresses() -> set[IPAddress]:
    """The host's own addresses (every interface), so a service bound to 0.0.0.0 stays unreachable."""
    found: set[IPAddress] = set()
    with contextlib.suppress(OSError):
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        for previous, line in itertools.pairwise(lines):
            if line.strip() == "/32 host LOCAL" and "--" in previous:
                with contextlib.suppress(ValueError):
                    found.add(ipaddress.ip_address(previous.split("--", 1)[1].strip()))
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            raw = line.split()[0] if line.split() else ""
            with contextlib.suppress(ValueError):
                found.add(ipaddress.IPv6Address(bytes.fromhex(raw)))
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None):
            with contextlib.suppress(ValueError):
                found.add(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
    return found


@dataclass(frozen=True)
class EgressPolicy:
    """Which destinations an agent may reach: host:port patterns, then a check of every address."""

    allowed_hosts: tuple[str, ...]
    #: TEST ONLY: loopback ports that may be reached (the stub model). Never set in production.
    allow_loopback_ports: frozenset[int] = frozenset()
    own: frozenset[IPAddress] = field(default_factory=lambda: frozenset(own_addresses()))

    def host_refusal(self, host: str, port: int) -> str | None:
        """Why host:port is not on the allow-list, or None."""
        host = host.lower().rstrip(".")
        for pattern in self.allowed_hosts:
            want_host, want_port = split_host_port(pattern)
            if want_port != port:
                continue
            if want_host == host or (
                want_host.startswith("*.") and host.endswith(want_host[1:]) and len(host) > len(want_host) - 1
            ):
                return None
        return f"{host}:{port} is not in allowed_hosts"

    def address_refusal(self, address: str, port: int) -> str | None:
        """Why a resolved address may never be reached, or None."""
        ip: IPAddress = ipaddress.ip_address(address.split("%")[0])
        embedded = _embedded_v4(ip)
        if embedded is not None:
            ip = embedded
        if ip.is_loopback:
            return None if port in self.allow_loopback_ports else f"{ip} is a loopback address"
        if ip in self.own:
            return f"{ip} is one of this host's own addresses"
        if ip.is_link_local:
            return f"{ip} is a link-local address (cloud metadata lives there)"
        if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT):
            return f"{ip} is a private address"
        if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
            return f"{ip} is not a public unicast address"
        return None


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4 or Teredo IPv6 address (checked like the real one)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
    return None


# --------------------------------------------------------------------------- the proxy


@dataclass
class Decision:
    """One request the proxy saw: the destination, the address used, and why it was refused."""

    method: str
    host: str
    port: int
    address: str | None = None
    refused: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "destination": f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}",
            "address": self.address,
            "refused": self.refused,
        }


class EgressProxy:
    """The host side: an HTTP CONNECT / forward proxy on a unix socket, run in its own thread."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self.decisions: list[Decision] = []
        self._dir: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def socket_path(self) -> Path:
        if self._dir is None:
            raise RuntimeError("the egress proxy is not running")
        return self._dir / "egress.sock"

    def __enter__(self) -> EgressProxy:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        # A short private folder: unix socket paths are limited to 107 bytes.
        self._dir = Path(tempfile.mkdtemp(prefix="ns-egress-"))
        self._dir.chmod(0o700)
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_unix_server(self._accept, path=str(self.socket_path), limit=_MAX_HEAD_BYTES)
                )
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=serve, name="nightshift-egress", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            self.stop()
            raise failure[0]

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():

            async def shutdown() -> None:
                if self._server is not None:
                    self._server.close()
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                loop.stop()

            asyncio.run_coroutine_threadsafe(shutdown(), loop)
            thread.join(10)
        if loop is not None and not loop.is_running():
            loop.close()
        self._loop = self._thread = self._server = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # -- per connection --
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self._handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            await _reply(writer, 400, "malformed request line")
            return
        if method.upper() == "CONNECT":
            try:
                host, port = split_host_port(target)
            except ValueError as exc:
                await _reply(writer, 400, str(exc))
                return
            upstream = await self._open(method, host, port, writer)
            if upstream is None:
                return
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _pipe(reader, writer, *upstream)
            return
        url = urlsplit(target)
        if url.scheme.lower() != "http" or not url.hostname:
            await _reply(writer, 400, "only CONNECT and absolute http:// URLs are proxied")
            return
        try:
            host, port = split_host_port(url.netloc.rpartition("@")[2], default_port=80)
        except ValueError as exc:
            await _reply(writer, 400, str(exc))
            return
        upstream = await self._open(method, host, port, writer)
        if upstream is None:
            return
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        headers = [h for h in lines[1:] if h and h.split(":", 1)[0].strip().lower() not in _HOP_HEADERS]
        # One request per connection: a second request on a kept-alive socket would skip the check.
        forwarded = "\r\n".join([f"{method} {path} {version}", *headers, "Connection: close", "", ""])
        upstream[1].write(forwarded.encode("latin-1"))
        await _pipe(reader, writer, *upstream)

    async def _open(
        self, method: str, host: str, port: int, writer: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        decision = Decision(method=method.upper(), host=host, port=port)
        self.decisions.append(decision)
        refusal = self.policy.host_refusal(host, port)
        addresses: list[str] = []
        if refusal is None:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                decision.refused = f"cannot resolve {host}: {exc}"
                await _reply(writer, 502, decision.refused)
                return None
            reasons = []
            for info in infos:
                address = str(info[4][0])
                why = self.policy.address_refusal(address, port)
                if why is None:
                    addresses.append(address)
                else:
                    reasons.append(why)
            if not addresses:
                refusal = f"{host}:{port} refused: " + "; ".join(dict.fromkeys(reasons) or ["no address"])
        if refusal is not None:
            decision.refused = refusal
            log.warning("egress refused: %s", refusal)
            await _reply(writer, 403, refusal)
            return None
        last: Exception | None = None
        for address in addresses:
            try:
                upstream = await asyncio.wait_for(asyncio.open_connection(address, port), _CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                last = exc
                continue
            decision.address = address
            return upstream
        decision.refused = f"cannot connect to {host}:{port}: {last}"
        await _reply(writer, 502, decision.refused)
        return None


async def _reply(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    body = f"nightshift egress proxy: {reason}\n".encode()
    phrase = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    writer.write(
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n".encode()
        + body
    )
    with contextlib.suppress(OSError):
        await writer.drain()


async def _pipe(
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    upstream_r: asyncio.StreamReader,
    upstream_w: asyncio.StreamWriter,
) -> None:
    async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while chunk := await src.read(65536):
                dst.write(chunk)
                await dst.drain()
            if dst.can_write_eof():
                dst.write_eof()
        except OSError:
            dst.close()

    try:
        await asyncio.gather(copy(client_r, upstream_w), copy(upstream_r, client_w))
    finally:
        upstream_w.close()


# --------------------------------------------------------------------------- sandbox wiring


@dataclass
class SandboxEgress:
    """What the runner adds to a sandboxed run so the agent reaches the proxy and nothing else."""

    argv_prefix: list[str]
    mounts: list[Mount]
    env: dict[str, str]


def sandbox_egress(socket_path: Path, *, proxy_loopback: bool = False) -> SandboxEgress:
    """The bridge command (run by Nightshift's own interpreter, stdlib only), its mounts, and the proxy
    environment. NO_PROXY keeps the sandbox's own loopback direct (a test server the agent starts
    itself), except when loopback ports are allowed for tests: then loopback goes through the proxy."""
    python = Path(os.path.realpath(sys.executable))
    mounts = [
        Mount(socket_path, dest=SANDBOX_SOCKET, writable=True),
        Mount(BRIDGE_SCRIPT, dest=SANDBOX_BRIDGE),
    ]
    for base in _interpreter_roots(python):
        mounts.append(Mount(base))
    no_proxy = "" if proxy_loopback else "localhost,127.0.0.1,::1"
    env = {}
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = PROXY_URL
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    env["NODE_USE_ENV_PROXY"] = "1"  # Node's built-in fetch honours the variables only with this
    argv = [str(python), "-I", "-S", str(SANDBOX_BRIDGE), str(PROXY_PORT), str(SANDBOX_SOCKET), "--"]
    return SandboxEgress(argv_prefix=argv, mounts=mounts, env=env)


def _interpreter_roots(python: Path) -> Iterable[Path]:
    """The interpreter's install, when it is not under /usr (which every sandbox has)."""
    for candidate in (Path(sys.base_prefix).resolve(), python.parent.parent):
        if candidate.parts[:2] != ("/", "usr") and candidate != Path("/"):
            yield candidate
            return
