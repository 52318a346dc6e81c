"""What the sandbox lets an agent do, measured from inside and checked from the host.

Figures (asserted, and printed with -s): network connections made, host-visible writes outside the
worktree, canary values visible, writes to .git, inherited descriptors, processes left after timeouts.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from nightshift.agents.config import AgentConfig
from nightshift.agents.runner import build_runner
from nightshift.agents.sandbox import SandboxUnavailable
from nightshift.agents.scripted_backend import ScriptedRunner
from tests.nightshift.agents.agent_helpers import marked_processes

PROBE = r'''
import json, os, socket, sys
out = {}
# descriptors of every process in the sandbox, before this probe opens any socket
fds = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        fds[pid] = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError as exc:
        fds[pid] = {"error": str(exc)}
out["fds"] = fds
cfg = json.loads(sys.argv[1])
try:
    socket.create_connection(("127.0.0.1", cfg["tcp_port"]), timeout=3).close()
    out["tcp"] = "connected"
except OSError as exc:
    out["tcp"] = f"error: {exc}"
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"probe", ("127.0.0.1", cfg["udp_port"]))
    out["udp"] = "sent"
except OSError as exc:
    out["udp"] = f"error: {exc}"
try:
    socket.getaddrinfo("example.com", 443)
    out["dns"] = "resolved"
except OSError as exc:
    out["dns"] = f"error: {exc}"
out["interfaces"] = [line.split(":")[0].strip() for line in open("/proc/net/dev").read().splitlines()[2:]]
out["writes"] = {}
for target in cfg["targets"]:
    try:
        with open(target, "a") as handle:
            handle.write("pwned\n")
        out["writes"][target] = "written"
    except OSError as exc:
        out["writes"][target] = f"error: {exc.strerror}"
out["environ"] = dict(os.environ)
envs = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        envs[pid] = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
    except OSError as exc:
        envs[pid] = f"error: {exc}"
out["proc_environ"] = envs
out["status"] = open("/proc/self/status").read()
out["pids"] = sorted(int(p) for p in filter(str.isdigit, os.listdir("/proc")))
json.dump(out, open(cfg["out"], "w"), indent=1)
'''

GIT_PROBE = r'''
set +e
git status --porcelain > git-status.txt; echo "status=$?" > git-rc.txt
git config user.name evil;                 echo "config=$?" >> git-rc.txt
git -c user.email=a@b -c user.name=n commit --allow-empty -qm evil; echo "commit=$?" >> git-rc.txt
git branch evil-branch;                    echo "branch=$?" >> git-rc.txt
git update-ref refs/heads/evil HEAD;       echo "update-ref=$?" >> git-rc.txt
echo 'gitdir: /tmp/evil' > .git;           echo "dotgit=$?" >> git-rc.txt
rm -f .git;                                echo "rm-dotgit=$?" >> git-rc.txt
GITDIR=$(git rev-parse --git-dir); COMMON=$(git rev-parse --git-common-dir)
echo evil >> "$GITDIR/HEAD";               echo "head=$?" >> git-rc.txt
mkdir -p "$COMMON/hooks" && echo 'echo pwned' > "$COMMON/hooks/pre-commit"; echo "hook=$?" >> git-rc.txt
echo "[x]" >> "$COMMON/config";            echo "common-config=$?" >> git-rc.txt
cat "$COMMON/config" > git-config-inside.txt
'''


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


class Listener:
    """TCP and UDP listeners on host loopback that count what reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.tcp.settimeout(0.2)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.accepted = 0
        self.datagrams = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
                self.accepted += 1
                conn.close()
            except OSError:
                pass
            try:
                self.udp.recvfrom(64)
                self.datagrams += 1
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.tcp.close()
        self.udp.close()


def _probe_behaviour(behaviours: Path, cfg: dict) -> None:
    (behaviours / "PROJ-1.yaml").write_text(json.dumps({"checkpoints": {"C2": {"steps": [
        {"run": f"{sys.executable} -I probe.py '{json.dumps(cfg)}'"},
        {"run": GIT_PROBE},
    ]}}}))


@pytest.mark.reliability
def test_sandbox_isolation_figures(scripted, make_request, worktree, behaviours, tmp_path, origin, canaries,
                                   workspaces, reliability_row):
    listener = Listener()
    inherited_r, inherited_w = os.pipe()  # stands in for the task's supervisor socket
    os.set_inheritable(inherited_w, True)
    supervisor = socket.socket()
    supervisor.set_inheritable(True)
    mirror = next((workspaces.root / "mirrors").glob("*.git"))
    gitdir = Path((worktree / ".git").read_text().split(":", 1)[1].strip())
    outside = tmp_path / "outside"
    outside.mkdir()
    run_dir = tmp_path / "run"
    targets = [
        str(outside / "host-file.txt"), str(run_dir / "evil.txt"), str(run_dir / "request.json"),
        "/nightshift/request.json", str(mirror / "objects" / "pwned"), str(mirror / "config"),
        str(mirror / "hooks" / "pre-commit"), str(gitdir / "HEAD"), str(worktree.parent / "sibling.txt"),
        str(origin / "README.md"), str(Path(sys.prefix) / "pwned"), "/usr/pwned", "/etc/pwned", "/root/pwned",
        "/pwned", str(Path.home() / "pwned"),
    ]
    (worktree / "probe.py").write_text(PROBE)
    _probe_behaviour(behaviours, {"tcp_port": listener.tcp.getsockname()[1],
                                  "udp_port": listener.udp.getsockname()[1], "targets": targets,
                                  "out": "probe-out.json"})
    host_before = {t: Path(t).read_bytes() if Path(t).is_file() else None for t in targets}
    mirror_before = _snapshot(mirror)
    started = time.monotonic()
    try:
        result = scripted().run(make_request(worktree), run_dir)
    finally:
        time.sleep(0.3)
        listener.close()
        supervisor.close()
        os.close(inherited_r)
        os.close(inherited_w)
    elapsed = time.monotonic() - started
    assert result.status == "ok", result.reason
    probe = json.loads((worktree / "probe-out.json").read_text())

    # Network: nothing reached the host listeners; DNS failed; only loopback exists inside.
    connections = listener.accepted + listener.datagrams
    assert connections == 0
    assert probe["tcp"].startswith("error") and probe["dns"].startswith("error")
    assert probe["interfaces"] == ["lo"]

    # Writes outside the worktree: none is visible on the host.
    written_by_runner = {str(run_dir / "request.json")}  # the runner writes it; the agent must not
    host_changes = [t for t in targets if t not in written_by_runner
                    and (Path(t).read_bytes() if Path(t).is_file() else None) != host_before[t]]
    host_changes += [t for t in written_by_runner if b"pwned" in Path(t).read_bytes()]
    assert host_changes == []
    assert all(v.startswith("error") for k, v in probe["writes"].items() if not k.startswith(("/tmp", "/root"))
               ), probe["writes"]

    # Canaries: no value from the parent environment is visible anywhere inside.
    inside_text = json.dumps(probe["environ"]) + json.dumps(probe["proc_environ"])
    canaries_visible = sum(inside_text.count(v) for v in canaries.values())
    assert canaries_visible == 0
    assert not any(k.startswith("AIRFLOW") for k in probe["environ"])
    assert set(probe["environ"]) <= {
        "PATH", "HOME", "TMPDIR", "USER", "LOGNAME", "LANG", "LC_ALL", "GIT_TERMINAL_PROMPT", "GIT_CONFIG_NOSYSTEM",
        "NO_COLOR", "PYTHONDONTWRITEBYTECODE", "NIGHTSHIFT_CHECKPOINT", "NIGHTSHIFT_TICKET", "NIGHTSHIFT_REQUEST",
        "NIGHTSHIFT_RESULT", "NIGHTSHIFT_WORKSPACE", "NIGHTSHIFT_STATE_DIR", "NIGHTSHIFT_RUN_MARKER", "PWD",
        "NIGHTSHIFT_BEHAVIOUR", "PYDANTIC_DISABLE_PLUGINS",
        "SHLVL", "_", "OLDPWD"}

    # Descriptors: no process in the sandbox holds a socket or a pipe other than its stdout/stderr.
    inherited = [(pid, fd, target) for pid, table in probe["fds"].items() for fd, target in table.items()
                 if fd not in ("0", "1", "2") and ("socket:" in target or "pipe:" in target)]
    assert inherited == []
    assert all(table.get("0") == "/dev/null" for table in probe["fds"].values() if "0" in table)

    # Privileges: no capabilities, not root, own PID namespace (few processes).
    assert "CapEff:\t0000000000000000" in probe["status"]
    assert "Uid:\t1000" in probe["status"]
    assert len(probe["pids"]) < 10

    # .git: git status works, every write fails, the mirror is byte-for-byte unchanged.
    rcs = dict(line.split("=") for line in (worktree / "git-rc.txt").read_text().split())
    assert rcs.pop("status") == "0"
    assert "?? probe.py" in (worktree / "git-status.txt").read_text()
    assert all(code != "0" for code in rcs.values()), rcs
    git_writes = sum(1 for a, b in zip(sorted(mirror_before.items()), sorted(_snapshot(mirror).items()),
                                       strict=False) if a != b) + abs(len(_snapshot(mirror)) - len(mirror_before))
    assert git_writes == 0
    assert (worktree / ".git").read_text().startswith("gitdir: ")
    config_inside = (worktree / "git-config-inside.txt").read_text()
    assert "[remote" not in config_inside and "url" not in config_inside
    print(f"\nFIGURES network_connections={connections} host_writes_outside_worktree={len(host_changes)} "
          f"canaries_visible={canaries_visible} inherited_fds={len(inherited)} git_writes={git_writes} "
          f"elapsed={elapsed:.2f}s")
    for row, injection, figure in (
        ("Network from inside the sandbox", "DNS, TCP and UDP to host listeners", f"{connections} connections"),
        ("Canary tokens in the environment", "4 canaries in the parent env", f"{canaries_visible} visible inside"),
        ("Writes to .git from inside the sandbox", "git commit/config/update-ref, writes into the mirror",
         f"{git_writes} writes"),
    ):
        reliability_row(row=row, injection=injection, figure=figure, criterion="0", passed=figure.startswith("0 "))


def test_network_allow_never_shares_the_host_network(scripted, make_request, worktree, behaviours, tmp_path):
    """`network: allow` for the listener's own host:port still gives no direct route: only the egress
    proxy (tests/reliability/test_sandbox_egress.py) leads out, and it refuses loopback."""
    listener = Listener()
    port = listener.tcp.getsockname()[1]
    (worktree / "probe.py").write_text(PROBE)
    _probe_behaviour(behaviours, {"tcp_port": port, "udp_port": listener.udp.getsockname()[1],
                                  "targets": [], "out": "probe-out.json"})
    try:
        result = scripted(network="allow", allowed_hosts=[f"127.0.0.1:{port}"]).run(
            make_request(worktree), tmp_path / "run")
    finally:
        time.sleep(0.3)
        listener.close()
    assert result.status == "ok", result.reason
    probe = json.loads((worktree / "probe-out.json").read_text())
    assert probe["tcp"].startswith("error") and probe["dns"].startswith("error")
    assert probe["interfaces"] == ["lo"]
    assert listener.accepted + listener.datagrams == 0
    assert probe["environ"]["HTTPS_PROXY"] == "http://127.0.0.1:3128"
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["network"] == "allow" and run["allowed_hosts"] == [f"127.0.0.1:{port}"]


@pytest.mark.parametrize("unsandboxed", [False, True], ids=["sandboxed", "unsandboxed"])
@pytest.mark.reliability
def test_timeouts_leave_no_process_behind(scripted, make_request, worktree, behaviours, tmp_path, unsandboxed,
                                          reliability_row):
    ready = "{write: {path: ready.txt, content: x}}"
    cases = {
        "sleep": (f"[{ready}, {{sleep: 60}}]", ["SIGTERM"]),
        "ignore-sigterm": (f"[{{ignore_sigterm: true}}, {ready}, {{hang: true}}]", ["SIGTERM", "SIGKILL"]),
        "forked-daemon": ("[{fork_daemon: {marker: MARK, seconds: 1000}}, "
                          "{run: \"setsid sh -c 'sleep 1000; : MARK-setsid' & echo x > ready.txt; sleep 1000\"}]",
                          ["SIGTERM"]),
        "daemon-ignoring-sigterm": (f"[{{ignore_sigterm: true}}, {{fork_daemon: {{marker: MARK, seconds: 1000}}}}, "
                                    f"{ready}, {{hang: true}}]", ["SIGTERM", "SIGKILL"]),
    }
    extra = {"unsandboxed": True, "bwrap_path": "/nonexistent/bwrap"} if unsandboxed else {}
    figures = {}
    for name, (steps, signals) in cases.items():
        # The timeout must hit after the agent set the trap (ignored SIGTERM, forked daemon): ready.txt
        # proves it did. On a loaded machine, Python may need longer than 1 s to get there: retry longer.
        for timeout in (1, 4):
            marker = f"nsmark-{uuid.uuid4().hex[:12]}"
            (worktree / "ready.txt").unlink(missing_ok=True)
            behaviours.joinpath("PROJ-1.yaml").write_text(
                f"checkpoints:\n  C2:\n    steps: {steps.replace('MARK', marker)}\n")
            started = time.monotonic()
            result = scripted(timeout_seconds=timeout, grace_seconds=0.5, **extra).run(
                make_request(worktree), tmp_path / f"{name}-{timeout}")
            elapsed = time.monotonic() - started
            left = marked_processes(marker)
            if (worktree / "ready.txt").is_file():
                break
        assert (worktree / "ready.txt").is_file(), f"{name}: the agent never reached its trap"
        run = json.loads((tmp_path / f"{name}-{timeout}" / "run.json").read_text())
        figures[name] = (len(left), round(elapsed, 2))
        assert (result.status, result.reason) == ("failed", f"timed out after {timeout}s"), name
        assert run["signals_sent"] == signals, name
        assert left == [] and run["processes_left"] == 0, name
        assert elapsed < timeout + 5, name
    print(f"\nFIGURES {'unsandboxed' if unsandboxed else 'sandboxed'} (processes_left, seconds): {figures}")
    orphans = sum(left for left, _ in figures.values())
    reliability_row(row="Timeouts: sleeping, SIGTERM-ignoring and daemon-forking agents",
                    injection=", ".join(figures), figure=f"{orphans} orphan processes", criterion="0",
                    passed=orphans == 0)


@pytest.mark.parametrize("unsandboxed", [False, True], ids=["sandboxed", "unsandboxed"])
def test_daemon_holding_stdout_after_a_normal_exit(scripted, make_request, worktree, behaviours, tmp_path,
                                                   unsandboxed):
    marker = f"nsmark-{uuid.uuid4().hex[:12]}"
    behaviours.joinpath("PROJ-1.yaml").write_text(
        f"checkpoints:\n  C2:\n    steps: [{{fork_daemon: {{marker: {marker}, keep_output: true}}}}]\n")
    extra = {"unsandboxed": True, "bwrap_path": "/nonexistent/bwrap"} if unsandboxed else {}
    started = time.monotonic()
    result = scripted(timeout_seconds=30, **extra).run(make_request(worktree), tmp_path / "run")
    assert result.status == "ok"
    assert time.monotonic() - started < 8
    assert marked_processes(marker) == []


def test_fail_closed_when_bwrap_is_missing(scripted, make_request, worktree, tmp_path):
    with pytest.raises(SandboxUnavailable, match="unsandboxed: true"):
        scripted(bwrap_path="/nonexistent/bwrap")
    runner = ScriptedRunner(AgentConfig(bwrap_path="/nonexistent/bwrap",
                                        scripted={"state_dir": str(tmp_path / "state")}))
    with pytest.raises(SandboxUnavailable, match="not found at /nonexistent/bwrap"):
        runner.run(make_request(worktree), tmp_path / "run")
    assert not (tmp_path / "run" / "stdout.txt").exists()
    assert "scripted agent" not in (worktree / "src/utils.py").read_text()


def test_fail_closed_when_namespaces_are_blocked(scripted, tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace, likely because the kernel "
                    "does not allow non-privileged user namespaces.' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(SandboxUnavailable, match="No permissions to creating new namespace"):
        build_runner(AgentConfig(bwrap_path=str(fake)))


def test_unsandboxed_is_an_explicit_opt_out(scripted, make_request, worktree, tmp_path, caplog):
    runner = scripted(unsandboxed=True, bwrap_path="/nonexistent/bwrap")
    assert "sandbox is OFF" in caplog.text
    result = runner.run(make_request(worktree), tmp_path / "run")
    assert result.status == "ok"
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["sandboxed"] is False and "bwrap" not in " ".join(run["argv"])


def test_output_is_capped_while_reading(scripted, make_request, worktree, behaviours, tmp_path):
    behaviours.joinpath("PROJ-1.yaml").write_text(
        "checkpoints:\n  C0:\n    steps:\n      - run: \"head -c 3000000 /dev/zero | tr '\\\\0' a\"\n")
    result = scripted(max_output_bytes=65536).run(make_request(worktree, "C0"), tmp_path / "run")
    assert result.status == "ok"
    assert len((tmp_path / "run" / "stdout.txt").read_bytes()) == 65536
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["stdout_dropped_bytes"] == 3000000 - 65536


def test_memory_limit_applies_inside(scripted, make_request, worktree, behaviours, tmp_path):
    behaviours.joinpath("PROJ-1.yaml").write_text(json.dumps({"checkpoints": {"C0": {"steps": [
        {"run": {"cmd": f"{sys.executable} -I -c 'bytearray(2 * 1024 ** 3)'", "check": True}}]}}}))
    result = scripted(memory_mb=1024).run(make_request(worktree, "C0"), tmp_path / "run")
    assert result.status == "failed" and "command exited with 1" in result.reason
    assert "MemoryError" in (tmp_path / "run" / "stderr.txt").read_text()


@pytest.mark.parametrize("trap", ["ln -s /etc/hostname \"$NIGHTSHIFT_RESULT\"", "mkfifo \"$NIGHTSHIFT_RESULT\""])
def test_result_file_traps_are_not_followed(scripted, make_request, worktree, behaviours, tmp_path, trap):
    """A result.json that is a symlink (to a host file, read on the host) or a FIFO (would block the
    runner) is treated as no result."""
    behaviours.joinpath("PROJ-1.yaml").write_text(json.dumps({"checkpoints": {"C0": {"steps": [
        {"run": trap}, {"no_result": True}]}}}))
    started = time.monotonic()
    result = scripted().run(make_request(worktree, "C0"), tmp_path / "run")
    assert (result.status, result.reason) == ("failed", "the agent wrote no result")
    assert time.monotonic() - started < 10
    assert not (tmp_path / "run" / "out" / "result.json").exists()


def test_symlinked_dot_git_is_refused(scripted, make_request, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / ".git").symlink_to("/etc")
    result = scripted().run(make_request(workspace, "C0"), tmp_path / "run")
    assert result.status == "failed" and "is a symlink" in result.reason
