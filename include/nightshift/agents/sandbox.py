"""Run one agent process inside bubblewrap, with limits, a deadline and a guaranteed-empty process tree.

Why each piece is there (security-and-reliability.md):
- the whole agent process runs in the sandbox, not only its shell tool (fact 1);
- nothing of the Airflow task process crosses over: a cleared environment plus an explicit allowlist,
  no inherited file descriptors, stdin from /dev/null (fact 2);
- the sandbox never shares the worker's network: no network at all, or (network: allow) only a unix
  socket to Nightshift's allow-list proxy (egress.py, fact 13);
- the system, the Python runtime and the repository's git data are read-only; only the worktree and
  a result folder are writable;
- the sandbox gets its own user namespace even when we run as root, so the agent holds no
  capabilities (bwrap as root without one would keep them all), and a seccomp filter (seccomp.py)
  that refuses nested user namespaces, ptrace, the keyring, bpf and every mount call;
- scratch space is capped: /tmp, /var/tmp and the home folder are tmpfs mounts of `scratch_mb` each
  (memory-backed: the cap keeps an agent from filling the worker's RAM through them);
- if bubblewrap cannot start, refuse with SandboxUnavailable unless the operator opted out (fact 10);
- on timeout: SIGTERM to the agent's processes, a grace period, then SIGKILL to the whole tree. The
  sandbox's PID namespace makes "the whole tree" exact: when its init dies, the kernel kills every
  process in it, daemons started with setsid included.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import selectors
import shutil
import signal
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from nightshift.agents.seccomp import SeccompUnsupported, build_filter

log = logging.getLogger(__name__)

#: Set in every agent process; lets cleanup find processes that left the tree (unsandboxed mode).
MARKER_ENV = "NIGHTSHIFT_RUN_MARKER"
SANDBOX_UID = 1000
SANDBOX_GID = 1000
SANDBOX_HOME = Path("/home/agent")
#: Private tmpfs mounts inside the sandbox (not the host's /tmp).
SANDBOX_TMP = Path("/tmp")  # noqa: S108
SANDBOX_VAR_TMP = Path("/var/tmp")  # noqa: S108
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
#: /etc entries an ordinary program needs; passwd/group are generated; no resolv.conf (names are
#: resolved by the egress proxy, never inside).
_ETC_ENTRIES = (
    "hosts",
    "nsswitch.conf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "localtime",
    "timezone",
    "os-release",
    "mime.types",
    "protocols",
    "services",
    "debian_version",
)
_DRAIN_AFTER_EXIT = 1.0  # seconds to keep reading after the main process exited


class SandboxUnavailable(RuntimeError):
    """bubblewrap cannot start here; the agent is not run (fail closed)."""


@dataclass(frozen=True)
class Mount:
    """A host path visible inside the sandbox at `dest` (same path when dest is None)."""

    src: Path
    dest: Path | None = None
    writable: bool = False

    @property
    def target(self) -> Path:
        return self.dest or self.src


@dataclass(frozen=True)
class ProcessLimits:
    timeout_seconds: float
    grace_seconds: float = 5.0
    memory_mb: int = 2048
    max_processes: int = 256
    max_output_bytes: int = 2 * 1024 * 1024
    max_file_mb: int = 1024
    #: Size of each tmpfs (/tmp, /var/tmp, home) inside the sandbox; 0 = the kernel default (half the RAM).
    scratch_mb: int = 512


@dataclass
class SandboxSpec:
    """Everything one sandboxed process needs. `env` is complete: nothing else is inherited."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    limits: ProcessLimits
    workspace: Path
    scratch_dir: Path  # host folder for generated files (passwd, sanitised git config)
    mounts: list[Mount] = field(default_factory=list)
    #: A host file read as the agent's stdin (the prompt, for CLIs that take it there); else /dev/null.
    stdin: Path | None = None
    #: Kept for callers that pass network=False; True is refused: the sandbox never shares the host
    #: network (network access goes through the egress proxy, see egress.py and the runner).
    network: bool = False

    def __post_init__(self) -> None:
        if self.network:
            raise ValueError("the sandbox never shares the host network; use the egress proxy (egress.py)")


@dataclass
class ProcessOutcome:
    exit_code: int | None
    timed_out: bool
    stdout: bytes
    stderr: bytes
    stdout_dropped: int
    stderr_dropped: int
    duration_seconds: float
    signals_sent: list[str]
    processes_left: int
    sandboxed: bool
    argv: list[str]
    error: str | None = None


# --------------------------------------------------------------------------- probing

_PROBE_CACHE: dict[tuple[str, float], str | None] = {}


def seccomp_program() -> bytes | None:
    """The compiled filter for this machine, or None (logged) where no filter is known."""
    try:
        return build_filter()
    except SeccompUnsupported as exc:
        log.warning("agent sandbox runs without its seccomp filter: %s", exc)
        return None


@contextlib.contextmanager
def _seccomp_fd() -> Iterator[int | None]:
    """A descriptor of the compiled filter (an anonymous memory file), for bwrap's --seccomp."""
    program = seccomp_program()
    if program is None:
        yield None
        return
    fd = os.memfd_create("nightshift-seccomp", os.MFD_CLOEXEC)
    try:
        os.write(fd, program)
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)


def system_mount_args() -> list[str]:
    """Read-only /usr, the /bin and /lib links (or binds) as on the host, and a minimal /etc."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for entry in _ETC_ENTRIES:
        args += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
    return args


def _namespace_args() -> list[str]:
    args = [
        "--unshare-all",
        "--unshare-user",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_GID),
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "nightshift-agent",
    ]
    return args


def probe_bwrap(bwrap_path: str) -> None:
    """Start a trivial sandbox with the same namespaces the agent gets; raise SandboxUnavailable if not."""
    path = Path(bwrap_path)
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError as exc:
        raise SandboxUnavailable(
            f"bubblewrap not found at {bwrap_path} ({exc.strerror}); install it (apt-get install bubblewrap) "
            "or, only if you accept running agents without isolation, set agent.unsandboxed: true"
        ) from None
    if key not in _PROBE_CACHE:
        # The same features the agent's sandbox uses: namespaces, a size-capped tmpfs, the seccomp filter.
        with _seccomp_fd() as fd:
            argv = [
                str(path),
                *_namespace_args(),
                *system_mount_args(),
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--size",
                str(1024 * 1024),
                "--tmpfs",
                str(SANDBOX_TMP),
                "--clearenv",
                *(["--seccomp", str(fd)] if fd is not None else []),
                "--",
                "/usr/bin/true",
            ]
            _PROBE_CACHE[key] = _probe(argv, () if fd is None else (fd,))
    problem = _PROBE_CACHE[key]
    if problem is not None:
        raise SandboxUnavailable(
            f"bubblewrap at {bwrap_path} cannot start a sandbox here: {problem}. User namespaces are "
            "probably blocked by the container runtime (allow them, e.g. kernel.unprivileged_userns_clone=1 "
            "or a seccomp profile permitting clone(CLONE_NEWUSER)); bubblewrap 0.7 or later is needed "
            "(--size); agents are not run unsandboxed unless agent.unsandboxed: true is configured"
        )


def _probe(argv: list[str], pass_fds: tuple[int, ...]) -> str | None:
    """None when the trivial sandbox ran, else what went wrong."""
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=20,
            close_fds=True,
            pass_fds=pass_fds,
            env={"PATH": SANDBOX_PATH},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if proc.returncode == 0:
        return None
    return proc.stderr.decode(errors="replace").strip() or f"exit code {proc.returncode}"


# --------------------------------------------------------------------------- mounts helpers


def python_runtime_paths(path: Path) -> list[Path]:
    """For a venv (or a file inside one): the venv root and the base Python install it points to."""
    found: list[Path] = []
    for candidate in [path, *path.parents]:
        cfg = candidate / "pyvenv.cfg"
        if cfg.is_file():
            found.append(candidate)
            for line in cfg.read_text(errors="replace").splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "home" and value.strip():
                    found.append(Path(value.strip()).resolve().parent)
            break
    return found


def git_mounts(workspace: Path, scratch: Path) -> list[Mount]:
    """Read-only views of the worktree's git data, so `git status`/`git diff` work but nothing in .git
    can be written: the `.git` link file, and the whole common git dir (the mirror) read-only, so no
    hook, ref or object can be planted even where its parent folder is a tmpfs inside the sandbox. The
    repository config is replaced by a sanitised copy (no remotes, credentials, hooksPath, filters)."""
    dotgit = workspace / ".git"
    if dotgit.is_symlink():
        raise ValueError(f"{dotgit} is a symlink; refusing to expose it to an agent")
    if dotgit.is_dir():
        common = dotgit
        mounts = [Mount(dotgit)]
    elif dotgit.is_file():
        text = dotgit.read_text(errors="replace").strip()
        if not text.startswith("gitdir:"):
            raise ValueError(f"{dotgit} is not a git worktree link")
        gitdir = Path(text.split(":", 1)[1].strip())
        gitdir = (workspace / gitdir).resolve() if not gitdir.is_absolute() else gitdir.resolve()
        commondir_file = gitdir / "commondir"
        common = (
            (gitdir / commondir_file.read_text().strip()).resolve() if commondir_file.is_file() else gitdir
        )
        mounts = [Mount(common)]
        if not gitdir.is_relative_to(common):
            mounts.append(Mount(gitdir))
        mounts.append(Mount(dotgit))
    else:
        return []
    config = common / "config"
    if config.is_file():
        clean = scratch / "gitconfig"
        _sanitised_git_config(config, clean)
        mounts.append(Mount(clean, dest=config))
    return mounts


def _sanitised_git_config(src: Path, dest: Path) -> None:
    """Copy only the keys git needs to read the repository (format version, bareness, extensions)."""
    env = {"PATH": SANDBOX_PATH, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(dest.parent)}
    proc = subprocess.run(
        [
            "git",
            "config",
            "--file",
            str(src),
            "--null",
            "--get-regexp",
            r"^(core\.(repositoryformatversion|bare)|extensions\..*)$",
        ],
        capture_output=True,
        env=env,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    dest.write_text("")
    for item in proc.stdout.split(b"\0"):
        if not item:
            continue
        key, _, value = item.decode(errors="replace").partition("\n")
        subprocess.run(
            ["git", "config", "--file", str(dest), key, value],
            check=True,
            env=env,
            timeout=30,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )


# --------------------------------------------------------------------------- process tree


def _ppid_map() -> dict[int, int]:
    out: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        rest = data[data.rfind(b")") + 2 :].split()
        if len(rest) > 1 and rest[0] != b"Z":
            out[int(entry.name)] = int(rest[1])
    return out


def descendants(root: int) -> set[int]:
    """Live (non-zombie) processes below `root`, found through /proc parent links."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppid_map().items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def marked(marker: str) -> set[int]:
    """Live processes whose environment carries this run's marker (they may have left the tree)."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    found.add(int(entry.name))
        except OSError:
            continue
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _signal_all(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


# --------------------------------------------------------------------------- the sandbox


class Sandbox:
    """Runs a SandboxSpec under bubblewrap (or, if the operator opted out, without it)."""

    def __init__(self, bwrap_path: str = "/usr/bin/bwrap", *, unsandboxed: bool = False) -> None:
        self.bwrap_path = bwrap_path
        self.unsandboxed = unsandboxed

    def check(self) -> None:
        """Raise SandboxUnavailable unless bubblewrap works (or the sandbox is explicitly off)."""
        if not self.unsandboxed:
            probe_bwrap(self.bwrap_path)

    # -- argv --
    def bwrap_argv(self, spec: SandboxSpec, env: dict[str, str], seccomp_fd: int | None = None) -> list[str]:
        scratch = spec.scratch_dir
        scratch.mkdir(parents=True, exist_ok=True)
        passwd, group = scratch / "passwd", scratch / "group"
        passwd.write_text(
            f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"agent:x:{SANDBOX_UID}:{SANDBOX_GID}:agent:{SANDBOX_HOME}:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        )
        group.write_text(f"root:x:0:\nagent:x:{SANDBOX_GID}:\nnogroup:x:65534:\n")
        args = [self.bwrap_path, *_namespace_args(), *system_mount_args()]
        args += ["--ro-bind", str(passwd), "/etc/passwd", "--ro-bind", str(group), "/etc/group"]
        args += ["--proc", "/proc", "--dev", "/dev"]
        size = ["--size", str(spec.limits.scratch_mb * 1024 * 1024)] if spec.limits.scratch_mb else []
        for scratch_dir in (SANDBOX_TMP, SANDBOX_VAR_TMP, SANDBOX_HOME):
            args += [*size, "--tmpfs", str(scratch_dir)]
        # Read-only mounts first, then the writable worktree, then git data over it (ro again).
        workspace = spec.workspace
        git = [m for m in spec.mounts if _is_within(m.target, workspace)]
        others = [m for m in spec.mounts if m not in git]
        for mount in sorted(others, key=lambda m: len(m.target.parts)):
            flag = "--bind" if mount.writable else "--ro-bind"
            args += [flag, str(mount.src), str(mount.target)]
        args += ["--bind", str(workspace), str(workspace)]
        for mount in git:
            args += ["--bind" if mount.writable else "--ro-bind", str(mount.src), str(mount.target)]
        args += ["--remount-ro", "/", "--chdir", str(spec.cwd), "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        if seccomp_fd is not None:
            args += ["--seccomp", str(seccomp_fd)]
        return [*args, "--", *spec.argv]

    @staticmethod
    def limit_prefix(limits: ProcessLimits) -> list[str]:
        """rlimits applied with util-linux prlimit, which execs the sandbox: no preexec_fn in a threaded
        Airflow worker. As root the kernel does not enforce RLIMIT_NPROC (root is exempt)."""
        prlimit = shutil.which("prlimit", path=SANDBOX_PATH)
        if prlimit is None:
            return []
        args = [prlimit, "--core=0"]
        if limits.memory_mb:
            args.append(f"--as={limits.memory_mb * 1024 * 1024}")
        if limits.max_processes:
            args.append(f"--nproc={limits.max_processes}")
        if limits.max_file_mb:
            args.append(f"--fsize={limits.max_file_mb * 1024 * 1024}")
        return [*args, "--"]

    # -- run --
    def run(self, spec: SandboxSpec) -> ProcessOutcome:
        """Run to completion or deadline. Never raises for agent failures; SandboxUnavailable if the
        sandbox cannot start."""
        self.check()
        if self.unsandboxed:
            return self._start(spec, None)
        with _seccomp_fd() as fd:
            return self._start(spec, fd)

    def _start(self, spec: SandboxSpec, seccomp_fd: int | None) -> ProcessOutcome:
        marker = uuid.uuid4().hex
        env = {**spec.env, MARKER_ENV: marker}
        if self.unsandboxed:
            argv = [*self.limit_prefix(spec.limits), *spec.argv]
            popen_env, cwd = env, spec.cwd
        else:
            argv = [*self.limit_prefix(spec.limits), *self.bwrap_argv(spec, env, seccomp_fd)]
            popen_env, cwd = {"PATH": SANDBOX_PATH, "LANG": "C.UTF-8"}, Path("/")
        start = time.monotonic()
        try:
            with contextlib.ExitStack() as stack:
                stdin = (
                    stack.enter_context(open(spec.stdin, "rb"))
                    if spec.stdin is not None
                    else subprocess.DEVNULL
                )
                proc = self._popen(argv, stdin, seccomp_fd, popen_env, cwd)
        except OSError as exc:
            return ProcessOutcome(
                exit_code=127,
                timed_out=False,
                stdout=b"",
                stderr=str(exc).encode(),
                stdout_dropped=0,
                stderr_dropped=0,
                duration_seconds=time.monotonic() - start,
                signals_sent=[],
                processes_left=0,
                sandboxed=not self.unsandboxed,
                argv=argv,
                error=f"could not start: {exc}",
            )
        return self._supervise(proc, spec.limits, marker, start, argv)

    @staticmethod
    def _popen(
        argv: list[str], stdin: IO[bytes] | int, seccomp_fd: int | None, env: dict[str, str], cwd: Path
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            pass_fds=() if seccomp_fd is None else (seccomp_fd,),
            start_new_session=True,
            env=env,
            cwd=cwd,
        )

    def _supervise(
        self, proc: subprocess.Popen[bytes], limits: ProcessLimits, marker: str, start: float, argv: list[str]
    ) -> ProcessOutcome:
        assert proc.stdout is not None and proc.stderr is not None
        cap = limits.max_output_bytes
        bufs: dict[int, bytearray] = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
        dropped: dict[int, int] = dict.fromkeys(bufs, 0)
        order = list(bufs)
        sel = selectors.DefaultSelector()
        for fd in bufs:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
            sel.register(fd, selectors.EVENT_READ)
        term_at = start + limits.timeout_seconds
        kill_at: float | None = None
        timed_out = False
        signals_sent: list[str] = []
        exited_at: float | None = None
        swept = False
        while True:
            now = time.monotonic()
            if proc.poll() is not None and exited_at is None:
                exited_at = now
            if exited_at is not None and not sel.get_map():
                break
            if exited_at is not None and now - exited_at > _DRAIN_AFTER_EXIT:
                if swept:
                    break  # something outside our reach holds the pipe; stop reading
                # An escaped process (unsandboxed daemon) holds the pipe open: end it, drain briefly.
                _signal_all(marked(marker), signal.SIGKILL)
                swept, exited_at = True, now
            if exited_at is None and not timed_out and now >= term_at:
                timed_out = True
                targets = {
                    p for p in descendants(proc.pid) | marked(marker) | {proc.pid} if _comm(p) != "bwrap"
                }
                if not self.unsandboxed:
                    targets.discard(proc.pid)
                _signal_all(targets, signal.SIGTERM)
                signals_sent.append("SIGTERM")
                kill_at = now + limits.grace_seconds
            if exited_at is None and kill_at is not None and now >= kill_at:
                _signal_all({proc.pid} | descendants(proc.pid) | marked(marker), signal.SIGKILL)
                signals_sent.append("SIGKILL")
                kill_at = None
            waits = [0.2]
            if not timed_out and exited_at is None:
                waits.append(max(0.0, term_at - now))
            if kill_at is not None:
                waits.append(max(0.0, kill_at - now))
            for key, _ in sel.select(timeout=min(waits)) if sel.get_map() else []:
                fd = int(key.fd)
                try:
                    chunk = os.read(fd, 65536)
                except OSError as exc:
                    if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                        continue
                    chunk = b""
                if not chunk:
                    sel.unregister(fd)
                    continue
                room = cap - len(bufs[fd])
                bufs[fd] += chunk[: max(room, 0)]
                dropped[fd] += max(len(chunk) - max(room, 0), 0)
            if not sel.get_map() and exited_at is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=min(waits))
        sel.close()
        exit_code = proc.wait()
        left = self._reap(marker)
        proc.stdout.close()
        proc.stderr.close()
        return ProcessOutcome(
            exit_code=exit_code,
            timed_out=timed_out,
            stdout=bytes(bufs[order[0]]),
            stderr=bytes(bufs[order[1]]),
            stdout_dropped=dropped[order[0]],
            stderr_dropped=dropped[order[1]],
            duration_seconds=round(time.monotonic() - start, 3),
            signals_sent=signals_sent,
            processes_left=left,
            sandboxed=not self.unsandboxed,
            argv=argv,
        )

    @staticmethod
    def _reap(marker: str, wait_seconds: float = 5.0) -> int:
        """After the main process ended: kill anything still carrying the marker; count survivors."""
        deadline = time.monotonic() + wait_seconds
        while True:
            left = marked(marker)
            if not left or time.monotonic() >= deadline:
                if left:
                    log.error("%d agent process(es) survived SIGKILL: %s", len(left), sorted(left))
                return len(left)
            _signal_all(left, signal.SIGKILL)
            time.sleep(0.05)


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def safe_read(path: Path, max_bytes: int) -> bytes | None:
    """Read a file the agent wrote without following symlinks or blocking on FIFOs; None if absent or
    not a regular file. Reads at most max_bytes + 1 so the caller can tell it was too big."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(65536, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
