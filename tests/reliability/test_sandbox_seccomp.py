"""Issue 9, defence in depth: the seccomp filter and the size-capped scratch space of the sandbox,
measured from inside the real sandbox (the scripted backend runs the probes)."""

from __future__ import annotations

import json
import sys

import pytest

from nightshift.agents.seccomp import ARCHES, build_filter
from tests.nightshift.agents.conftest import (  # noqa: F401 - fixtures
    behaviours,
    canaries,
    make_request,
    origin,
    scripted,
    workspaces,
    worktree,
)

SYSCALL_PROBE = r'''
import ctypes, errno, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
nr = {"x86_64": {"unshare": 272, "ptrace": 101, "keyctl": 250, "add_key": 248, "bpf": 321, "mount": 165,
                 "perf_event_open": 298, "setns": 308},
      "aarch64": {"unshare": 97, "ptrace": 117, "keyctl": 219, "add_key": 217, "bpf": 280, "mount": 40,
                  "perf_event_open": 241, "setns": 268}}[os.uname().machine]
def call(name, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr[name]), *[ctypes.c_long(a) for a in args])
    return "ok" if rc >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
out = {
    "unshare_user": call("unshare", 0x10000000),
    "ptrace_traceme": call("ptrace", 0, 0, 0, 0),
    "keyctl": call("keyctl", 0, -3, 0),  # KEYCTL_GET_KEYRING_ID of the session keyring
    "add_key": call("add_key", 0, 0, 0, 0, -3),
    "bpf": call("bpf", 0, 0, 0),
    "mount": call("mount", 0, 0, 0, 0, 0),
    "perf_event_open": call("perf_event_open", 0, 0, -1, -1, 0),
    "setns": call("setns", -1, 0),
}
status = open("/proc/self/status").read()
out["seccomp_mode"] = [l.split()[1] for l in status.splitlines() if l.startswith("Seccomp:")][0]
json.dump(out, open(sys.argv[1], "w"), indent=1)
'''

WORK = r'''
set +e
unshare -U true 2> unshare.err; echo "unshare=$?" > work-rc.txt
unshare -Ur true 2>> unshare.err; echo "unshare_root=$?" >> work-rc.txt
strace -f -o /dev/null true 2> strace.err; echo "strace=$?" >> work-rc.txt
git status --porcelain > /dev/null; echo "git_status=$?" >> work-rc.txt
PYTHON -c 'import threading, subprocess; t = threading.Thread(target=print); t.start(); t.join(); subprocess.run(["true"], check=True)'; echo "python_threads_subprocess=$?" >> work-rc.txt
PYTHON -m pytest -q -p no:cacheprovider test_tiny.py > pytest.out 2>&1; echo "pytest=$?" >> work-rc.txt
'''


@pytest.mark.reliability
def test_seccomp_denies_namespaces_ptrace_keyring_bpf_mount(
    scripted, make_request, worktree, behaviours, tmp_path, reliability_row  # noqa: F811
):
    (worktree / "probe.py").write_text(SYSCALL_PROBE)
    (worktree / "test_tiny.py").write_text("def test_sum():\n    assert sum([1, 2]) == 3\n")
    (behaviours / "PROJ-1.yaml").write_text(json.dumps({"checkpoints": {"C2": {"steps": [
        {"run": f"{sys.executable} -I probe.py probe-out.json"},
        {"run": WORK.replace("PYTHON", sys.executable)},
    ]}}}))
    result = scripted(timeout_seconds=120).run(make_request(worktree, timeout=120), tmp_path / "run")
    assert result.status == "ok", result.reason
    probe = json.loads((worktree / "probe-out.json").read_text())
    rcs = dict(line.split("=") for line in (worktree / "work-rc.txt").read_text().split())
    denied = ("unshare_user", "ptrace_traceme", "keyctl", "add_key", "bpf", "mount", "perf_event_open", "setns")
    allowed = [name for name in denied if probe[name] != "EPERM"]
    escapes = allowed + [name for name in ("unshare", "unshare_root", "strace") if rcs[name] == "0"]
    reliability_row(row="Sandbox seccomp filter (defence in depth)",
                    injection="unshare -U, ptrace/strace, keyctl, add_key, bpf, mount, perf_event_open, setns",
                    figure=f"{len(escapes)} of {len(denied) + 3} calls allowed; normal work ok: "
                           f"{all(rcs[k] == '0' for k in ('git_status', 'python_threads_subprocess', 'pytest'))}",
                    criterion="0, python/git/pytest work", passed=not escapes)
    assert escapes == [], (probe, rcs)
    assert probe["seccomp_mode"] == "2"
    assert "Operation not permitted" in (worktree / "unshare.err").read_text()
    # Normal work still works: git, Python threads and subprocesses (clone3 falls back to clone), pytest.
    assert (rcs["git_status"], rcs["python_threads_subprocess"], rcs["pytest"]) == ("0", "0", "0"), (
        rcs, (worktree / "pytest.out").read_text())
    assert "1 passed" in (worktree / "pytest.out").read_text()


@pytest.mark.reliability
def test_scratch_space_is_size_capped(scripted, make_request, worktree, behaviours, tmp_path,  # noqa: F811
                                      reliability_row):
    cap_mb = 8
    steps = [{"run": (
        "set +e\n"
        f'for d in /tmp /var/tmp "$HOME"; do\n'
        f'  dd if=/dev/zero of="$d/small" bs=1M count={cap_mb // 2} 2>/dev/null; echo "$d small=$?" >> scratch-rc.txt\n'
        f'  dd if=/dev/zero of="$d/big" bs=1M count={cap_mb * 2} 2>> scratch.err; echo "$d big=$?" >> scratch-rc.txt\n'
        '  rm -f "$d/small" "$d/big"\n'
        "done\n")}]
    (behaviours / "PROJ-1.yaml").write_text(json.dumps({"checkpoints": {"C2": {"steps": steps}}}))
    result = scripted(scratch_mb=cap_mb).run(make_request(worktree), tmp_path / "run")
    assert result.status == "ok", result.reason
    lines = (worktree / "scratch-rc.txt").read_text().splitlines()
    codes = {line.rsplit("=", 1)[0]: line.rsplit("=", 1)[1] for line in lines}
    over_cap = [k for k, v in codes.items() if k.endswith("big") and v == "0"]
    reliability_row(row="Size-capped scratch space (/tmp, /var/tmp, home)",
                    injection=f"write {cap_mb * 2} MB into each {cap_mb} MB scratch tmpfs",
                    figure=f"{len(over_cap)} of 3 over-cap writes succeeded", criterion="0",
                    passed=not over_cap)
    assert over_cap == [], codes
    assert all(v == "0" for k, v in codes.items() if k.endswith("small")), codes
    assert "No space left on device" in (worktree / "scratch.err").read_text()


def test_filter_compiles_for_both_architectures():
    for arch in ARCHES:
        program = build_filter(arch)
        assert len(program) % 8 == 0 and 30 < len(program) // 8 < 256
