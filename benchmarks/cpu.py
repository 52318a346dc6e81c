"""Where a night's CPU goes: CPU seconds by component of the local stack, from /proc.

On 2 cores a night is only as fast as the CPU left for the agents, so when a batch figure misses its
target this says which part of the cost remains: the scheduler, the executor's workers (each supervises
one task), the task processes themselves, the agents' sandboxes, the api-server, the triggerer, the
dag-processor, or the bench process (which also hosts the stand-in servers).

A thread reads /proc every `interval` seconds for every descendant of one process. A process's
exclusive time is its own user+system time plus the time of children it waited for that the sampler
never saw (a `git` that lived 20 ms is folded into the task that ran it); a child seen and gone is
subtracted from its parent's waited-for time, so nothing is counted twice. Linux only; elsewhere the
split is empty.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class _Proc:
    ppid: int
    cmd: str
    own: float = 0.0  # utime + stime, seconds
    waited: float = 0.0  # cutime + cstime: children it has reaped
    gone: bool = False


@dataclass
class CpuSplit:
    """CPU seconds by role over a sampled span, and the machine's total busy CPU over it."""

    wall_s: float
    machine_busy_s: float
    cores: int
    by_role: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        roles = sorted(self.by_role.items(), key=lambda kv: -kv[1])
        parts = ", ".join(f"{role} {secs:.0f}" for role, secs in roles if secs >= 0.5)
        busy = self.machine_busy_s / max(self.wall_s * self.cores, 1e-9)
        elsewhere = self.machine_busy_s - sum(self.by_role.values())
        return (
            f"CPU s: {parts}; elsewhere (the database server, other jobs) {max(elsewhere, 0):.0f}; "
            f"machine {busy:.0%} busy over {self.wall_s:.0f} s on {self.cores} cores"
        )


def _read_stat(pid: int) -> tuple[int, float, float] | None:
    """(ppid, own, waited) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, (utime + stime) / TICK, (cutime + cstime) / TICK


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores; idle and iowait excluded)."""
    try:
        parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    values = [int(x) for x in parts]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / TICK


def role_of(cmd: str, parent_role: str | None) -> str:
    """A process's component, from its command line and its parent's component."""
    if "bwrap" in cmd.split(" ", 1)[0]:
        return "agent sandboxes"
    if parent_role == "agent sandboxes":
        return parent_role
    if "api_server" in cmd or "api-server" in cmd:
        return "api-server"
    if "airflow worker" in cmd:
        return (
            "task processes" if parent_role in ("executor workers", "task processes") else "executor workers"
        )
    for name in ("scheduler", "triggerer", "dag-processor"):
        if f"airflow {name}" in cmd:
            return name
    return parent_role or "bench and stand-ins"


class CpuSampler:
    """Samples the descendants of `root` (default: this process) until stopped."""

    def __init__(self, root: int | None = None, interval: float = 0.2) -> None:
        self.root = root or os.getpid()
        self.interval = interval
        self.procs: dict[int, _Proc] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._started = 0.0
        self._busy0 = 0.0
        self._baseline: dict[int, float] = {}

    def __enter__(self) -> CpuSampler:
        self.sample()
        self._baseline = self._exclusive()  # the span starts now: earlier CPU is not the night's
        self._started = time.monotonic()
        self._busy0 = _machine_busy()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)
        self.sample()

    def sample(self) -> None:
        children: dict[int, list[int]] = {}
        seen: dict[int, tuple[int, float, float]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = _read_stat(int(entry))
                if stat is not None:
                    seen[int(entry)] = stat
                    children.setdefault(stat[0], []).append(int(entry))
        alive: set[int] = set()
        stack = [self.root]
        while stack:
            pid = stack.pop()
            if pid not in seen:
                continue
            alive.add(pid)
            ppid, own, waited = seen[pid]
            proc = self.procs.get(pid)
            if proc is None or proc.gone:  # a new process (or a reused pid)
                proc = self.procs[pid] = _Proc(ppid, _cmdline(pid))
            proc.own, proc.waited = own, waited
            stack.extend(children.get(pid, []))
        for pid, proc in self.procs.items():
            if pid not in alive:
                proc.gone = True

    def _exclusive(self) -> dict[int, float]:
        """Each process's CPU seconds: its own, plus what it reaped from children never sampled."""
        reaped: dict[int, float] = {}
        for proc in self.procs.values():
            if proc.gone and proc.ppid in self.procs:
                reaped[proc.ppid] = reaped.get(proc.ppid, 0.0) + proc.own + proc.waited
        return {
            pid: proc.own + max(0.0, proc.waited - reaped.get(pid, 0.0)) for pid, proc in self.procs.items()
        }

    def split(self) -> CpuSplit:
        roles: dict[int, str] = {}

        def role(pid: int) -> str:
            if pid not in roles:
                proc = self.procs[pid]
                parent = role(proc.ppid) if proc.ppid in self.procs and pid != self.root else None
                roles[pid] = role_of(proc.cmd, parent)
            return roles[pid]

        by_role: dict[str, float] = {}
        for pid, secs in self._exclusive().items():
            spent = secs - self._baseline.get(pid, 0.0)
            by_role[role(pid)] = by_role.get(role(pid), 0.0) + spent
        return CpuSplit(
            wall_s=time.monotonic() - self._started,
            machine_busy_s=_machine_busy() - self._busy0,
            cores=os.cpu_count() or 1,
            by_role=by_role,
        )
