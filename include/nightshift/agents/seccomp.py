"""A seccomp filter for the sandboxed agent, handed to bubblewrap as `--seccomp FD` (defence in depth).

The sandbox already drops every capability; this filter removes kernel surface an agent has no use for
and that sandbox escapes have used: new user namespaces inside the sandbox (`unshare`/`clone` with
CLONE_NEWUSER, which would hand the agent a fresh set of capabilities over new namespaces), ptrace and
process_vm_*, the kernel keyring (keyctl, add_key, request_key), bpf, every mount call (old and new
API), setns, kexec, module loading and perf_event_open. They fail with EPERM; clone3 fails with ENOSYS
(its flags sit behind a pointer the filter cannot read, and libc then falls back to clone, which is
checked). A syscall from another ABI (i386 via int 0x80, x32) kills the process: its numbers differ.

Classic BPF, assembled here (no libseccomp needed), for x86_64 and aarch64 (`uname -m`).
"""

from __future__ import annotations

import errno
import platform
import struct
import sys

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LOW = 16  # low 32 bits of args[0] on a little-endian machine

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000

CLONE_NEWUSER = 0x10000000
_X32_SYSCALL_BIT = 0x40000000

ARCHES: dict[str, int] = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

#: Denied outright (EPERM), by name; numbers per architecture below.
DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "mount",
    "umount2",
    "pivot_root",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "setns",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "perf_event_open",
)

SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "ptrace": 101,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "keyctl": 250,
        "add_key": 248,
        "request_key": 249,
        "bpf": 321,
        "mount": 165,
        "umount2": 166,
        "pivot_root": 155,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "mount_setattr": 442,
        "setns": 308,
        "kexec_load": 246,
        "kexec_file_load": 320,
        "init_module": 175,
        "finit_module": 313,
        "delete_module": 176,
        "perf_event_open": 298,
        "clone": 56,
        "unshare": 272,
        "clone3": 435,
    },
    "aarch64": {
        "ptrace": 117,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "keyctl": 219,
        "add_key": 217,
        "request_key": 218,
        "bpf": 280,
        "mount": 40,
        "umount2": 39,
        "pivot_root": 41,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "mount_setattr": 442,
        "setns": 268,
        "kexec_load": 104,
        "kexec_file_load": 294,
        "init_module": 105,
        "finit_module": 273,
        "delete_module": 106,
        "perf_event_open": 241,
        "clone": 220,
        "unshare": 97,
        "clone3": 435,
    },
}


class SeccompUnsupported(RuntimeError):
    """No filter is known for this machine's architecture."""


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def build_filter(arch: str | None = None) -> bytes:
    """The compiled program (an array of struct sock_filter) for `arch` (default: this machine)."""
    arch = arch or platform.machine()
    if arch not in ARCHES or sys.byteorder != "little":
        raise SeccompUnsupported(f"no seccomp filter for {arch} ({sys.byteorder}-endian)")
    numbers = SYSCALLS[arch]
    denied = [numbers[name] for name in DENIED]
    # Layout (indexes): header, one JEQ per denied syscall, clone3, clone, unshare, allow, flag check,
    # then the shared returns. Jumps are relative to the next instruction.
    body: list[tuple[str, int, str | None]] = []  # (kind, value, target label when true)
    body.append(("ld", _OFF_ARCH, None))
    body.append(("jne", ARCHES[arch], "kill"))
    body.append(("ld", _OFF_NR, None))
    if arch == "x86_64":
        body.append(("jge", _X32_SYSCALL_BIT, "kill"))
    body += [("jeq", nr, "eperm") for nr in denied]
    body.append(("jeq", numbers["clone3"], "enosys"))
    body.append(("jeq", numbers["clone"], "flags"))
    body.append(("jeq", numbers["unshare"], "flags"))
    body.append(("ret", RET_ALLOW, None))
    labels = {"flags": len(body)}
    body.append(("ld", _OFF_ARG0_LOW, None))
    body.append(("jset", CLONE_NEWUSER, "eperm"))
    body.append(("ret", RET_ALLOW, None))
    for label, value in (
        ("eperm", RET_ERRNO | errno.EPERM),
        ("enosys", RET_ERRNO | errno.ENOSYS),
        ("kill", RET_KILL_PROCESS),
    ):
        labels[label] = len(body)
        body.append(("ret", value, None))

    program: list[tuple[int, int, int, int]] = []
    for index, (kind, value, target) in enumerate(body):
        offset = labels[target] - index - 1 if target else 0
        if not 0 <= offset < 256:
            raise AssertionError(f"seccomp jump out of range at {index}")
        if kind == "ld":
            program.append(_insn(_LD_W_ABS, value))
        elif kind == "ret":
            program.append(_insn(_RET_K, value))
        elif kind == "jne":  # jump to target when NOT equal
            program.append(_insn(_JEQ_K, value, jt=0, jf=offset))
        else:
            code = {"jeq": _JEQ_K, "jge": _JGE_K, "jset": _JSET_K}[kind]
            program.append(_insn(code, value, jt=offset, jf=0))
    return b"".join(struct.pack("=HBBI", *insn) for insn in program)
