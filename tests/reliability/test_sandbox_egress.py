"""Issue 9, item 4 (security fact 13): with `network: allow`, the agent reaches only `allowed_hosts`,
through Nightshift's proxy, and never the host's loopback, private ranges, link-local (metadata) or the
host's own addresses, even when the operator (or an attacker-steered config) lists them.

The agent is the scripted backend in the real sandbox; its probe talks to the proxy at 127.0.0.1:3128 in
the sandbox's own network namespace (the only way out) and also tries direct connections.
"""

from __future__ import annotations

import http.server
import json
import socket
import sys
import threading
from pathlib import Path

import pytest

from nightshift.agents.egress import EgressPolicy, own_addresses
from tests.nightshift.agents.conftest import (  # noqa: F401 - fixtures
    behaviours,
    canaries,
    make_request,
    origin,
    scripted,
    workspaces,
    worktree,
)

PROBE = r'''
import json, os, socket, sys, urllib.request
cfg = json.loads(sys.argv[1])
out = {"interfaces": [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]],
       "https_proxy": os.environ.get("HTTPS_PROXY"), "connect": {}, "direct": {}}
def via_proxy(target):
    s = socket.create_connection(("127.0.0.1", 3128), timeout=20)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    status = data.split(b"\r\n")[0].decode()
    if " 200 " in status:
        s.sendall(b"GET /tunnel HTTP/1.0\r\n\r\n")
        status += " | " + s.recv(4096).split(b"\r\n")[0].decode()
    s.close()
    return status
for target in cfg["targets"]:
    try:
        out["connect"][target] = via_proxy(target)
    except OSError as exc:
        out["connect"][target] = f"error: {exc}"
for host, port in cfg["direct"]:
    try:
        socket.create_connection((host, port), timeout=3).close()
        out["direct"][f"{host}:{port}"] = "connected"
    except OSError as exc:
        out["direct"][f"{host}:{port}"] = f"error: {exc}"
try:
    out["http_get"] = urllib.request.urlopen(cfg["allowed_url"], timeout=20).read().decode()
except OSError as exc:
    out["http_get"] = f"error: {exc}"
json.dump(out, open(cfg["out"], "w"), indent=1)
'''


class Counter:
    """A TCP listener that counts connections (any that reach it is a hole)."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello from the allowed host {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _own_public_address() -> str | None:
    for ip in sorted(own_addresses(), key=str):
        if ip.version == 4 and not ip.is_loopback:
            return str(ip)
    return None


@pytest.mark.reliability
def test_network_allow_reaches_only_the_allowed_host(
    scripted, make_request, worktree, behaviours, tmp_path, reliability_row  # noqa: F811
):
    allowed = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=allowed.serve_forever, daemon=True).start()
    ok_port = allowed.server_address[1]
    loop = Counter("127.0.0.1")
    own_ip = _own_public_address()
    own = Counter("0.0.0.0") if own_ip else None  # a service listening on every interface
    forbidden = [f"127.0.0.1:{loop.port}", f"localhost:{loop.port}", f"[::ffff:127.0.0.1]:{loop.port}",
                 "10.20.30.40:80", "192.168.1.1:80", "172.16.0.1:80", "169.254.169.254:80", "[fd00::1]:80",
                 "[fe80::1]:80", "100.64.0.1:80"]
    if own is not None:
        forbidden.append(f"{own_ip}:{own.port}")
    not_listed = ["example.com:443", f"127.0.0.1:{loop.port + 1 if loop.port + 1 != ok_port else loop.port + 2}"]
    # Every forbidden destination is ALSO in the allow-list: the address check must win.
    allowed_hosts = [f"127.0.0.1:{ok_port}", *forbidden]
    direct = [("127.0.0.1", loop.port), ("127.0.0.1", ok_port)] + ([(own_ip, own.port)] if own else [])
    (worktree / "probe.py").write_text(PROBE)
    cfg = {"targets": [f"127.0.0.1:{ok_port}", *forbidden, *not_listed], "direct": direct,
           "allowed_url": f"http://127.0.0.1:{ok_port}/via-http-proxy", "out": "probe-out.json"}
    (behaviours / "PROJ-1.yaml").write_text(json.dumps({"checkpoints": {"C2": {"steps": [
        {"run": f"{sys.executable} -I probe.py '{json.dumps(cfg)}'"}]}}}))
    runner = scripted(network="allow", allowed_hosts=allowed_hosts, allow_loopback_ports=[ok_port],
                      timeout_seconds=120)
    try:
        result = runner.run(make_request(worktree, timeout=120), tmp_path / "run")
    finally:
        loop.close()
        if own is not None:
            own.close()
        allowed.shutdown()
    assert result.status == "ok", (result.reason, (tmp_path / "run" / "stderr.txt").read_text()[-2000:])
    probe = json.loads((worktree / "probe-out.json").read_text())
    run = json.loads((tmp_path / "run" / "run.json").read_text())

    reached = loop.accepted + (own.accepted if own else 0)
    tunnelled = [t for t in forbidden + not_listed if " 200 " in probe["connect"][t]]
    direct_ok = [t for t, v in probe["direct"].items() if v == "connected"]
    made = reached + len(tunnelled) + len(direct_ok)
    reliability_row(row="With network allowed for one host: loopback, private, 169.254.169.254",
                    injection=f"{len(forbidden)} forbidden (all allow-listed) + {len(not_listed)} unlisted "
                              f"destinations, direct TCP",
                    figure=f"{made} connections made; allowed host reached: {'hello' in probe['http_get']}",
                    criterion="0, allowed host works", passed=made == 0 and "hello" in probe["http_get"])
    assert made == 0, (tunnelled, direct_ok, reached)
    for target in forbidden + not_listed:
        assert " 403 " in probe["connect"][target], (target, probe["connect"][target])
    # The allowed host works, by CONNECT and by plain-HTTP forwarding.
    assert probe["connect"][f"127.0.0.1:{ok_port}"].endswith("HTTP/1.0 200 OK"), probe["connect"]
    assert probe["http_get"] == "hello from the allowed host /via-http-proxy"
    # The agent never shares the worker's network namespace.
    assert probe["interfaces"] == ["lo"] and probe["https_proxy"] == "http://127.0.0.1:3128"
    refusals = {d["destination"]: d["refused"] for d in run["egress"] if d["refused"]}
    assert "loopback" in refusals[f"localhost:{loop.port}"]  # allowed by name, refused by resolved address
    assert "link-local" in refusals["169.254.169.254:80"]
    assert "not in allowed_hosts" in refusals["example.com:443"]


def test_policy_checks_resolved_addresses():
    policy = EgressPolicy(("api.example.com:443", "*.models.example:443"), frozenset({8000}), own=frozenset())
    assert policy.host_refusal("api.example.com", 443) is None
    assert policy.host_refusal("API.example.com.", 443) is None
    assert policy.host_refusal("eu.models.example", 443) is None
    assert policy.host_refusal("models.example", 443) is not None
    assert policy.host_refusal("api.example.com", 80) is not None
    assert policy.host_refusal("evil.com", 443) is not None
    assert policy.address_refusal("93.184.215.14", 443) is None
    assert policy.address_refusal("2606:2800:21f:cb07:6820:80da:af6b:8b2c", 443) is None
    for address in ("127.0.0.1", "::1", "10.1.2.3", "172.31.0.1", "192.168.0.1", "169.254.169.254", "fe80::1",
                    "fd12::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "2002:a00:1::", "0.0.0.0", "100.64.1.1",
                    "224.0.0.1", "240.0.0.1"):
        assert policy.address_refusal(address, 443) is not None, address
    assert policy.address_refusal("127.0.0.1", 8000) is None  # the test-only loopback allowance
    assert EgressPolicy((), own=frozenset({__import__("ipaddress").ip_address("93.184.215.14")})).address_refusal(
        "93.184.215.14", 443) is not None


def test_bridge_script_is_standard_library_only():
    source = (Path(__import__("nightshift.agents.egress", fromlist=["x"]).__file__).parent
              / "egress_bridge.py").read_text()
    assert "nightshift" not in "".join(line for line in source.splitlines() if line.startswith(("import", "from")))


def test_timeout_with_network_allowed_leaves_no_process_and_no_descriptor(
    scripted, make_request, worktree, behaviours, tmp_path  # noqa: F811
):
    """The bridge dies with the sandbox, and the agent itself holds no socket of the bridge's."""
    # The agent's own descriptors (the scripted agent's parent python is the process the bridge exec'd).
    (worktree / "fds.py").write_text(
        "import json, os\nppid = os.getppid()\n"
        "json.dump({fd: os.readlink(f'/proc/{ppid}/fd/{fd}') for fd in os.listdir(f'/proc/{ppid}/fd')}, "
        "open('fds.json', 'w'))\n")
    (behaviours / "PROJ-1.yaml").write_text(json.dumps({"checkpoints": {"C2": {"steps": [
        {"run": f"exec {sys.executable} -I fds.py"}, {"write": {"path": "ready.txt"}}, {"sleep": 60}]}}}))
    result = scripted(network="allow", allowed_hosts=["api.example.com:443"], timeout_seconds=3,
                      grace_seconds=0.5).run(make_request(worktree), tmp_path / "run")
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (worktree / "ready.txt").is_file()
    assert result.status == "failed" and "timed out" in result.reason
    assert run["processes_left"] == 0
    held = json.loads((worktree / "fds.json").read_text())
    assert not [t for fd, t in held.items() if fd not in ("0", "1", "2") and "socket:" in t], held


def test_a_sandbox_spec_cannot_share_the_host_network(tmp_path):
    from nightshift.agents.sandbox import ProcessLimits, SandboxSpec

    with pytest.raises(ValueError, match="never shares the host network"):
        SandboxSpec(argv=["true"], cwd=tmp_path, env={}, limits=ProcessLimits(timeout_seconds=1),
                    workspace=tmp_path, scratch_dir=tmp_path, network=True)
