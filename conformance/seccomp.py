"""Run a command with some system calls refused, for one process tree, without
touching the host. Linux on x86_64 and aarch64 only.

- ``af-inet6``: socket(AF_INET6, ...) fails with EAFNOSUPPORT, the way a kernel booted
  with ipv6.disable=1 answers (the no-af-inet6 variant);
- ``namespaces``: unshare() fails with EPERM, the way it does for a user who may not
  create namespaces (to check that variants are then skipped, not failed);
- ``xstate-regset``: ptrace(PTRACE_GETREGSET) fails with EIO, so that user-mode Linux
  6.1 falls back to FXSAVE-format registers on a host with a large XSAVE area.

``python -m conformance.seccomp [--refuse WHAT]... -- COMMAND...`` (default: af-inet6)
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import socket
import struct
import sys

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06
# struct seccomp_data: int nr; u32 arch; u64 ip; u64 args[6] (little-endian low word first)
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0 = 0, 4, 16
# machine -> (AUDIT_ARCH_*, {syscall name: number})
ARCHES = {"x86_64": (0xC000003E, {"socket": 41, "unshare": 272, "ptrace": 101}),
          "aarch64": (0xC00000B7, {"socket": 198, "unshare": 97, "ptrace": 117})}
PTRACE_GETREGSET = 0x4204
# what can be refused -> (syscall, first argument or None for any, errno)
REFUSALS = {
    "af-inet6": ("socket", socket.AF_INET6, errno.EAFNOSUPPORT),
    "namespaces": ("unshare", None, errno.EPERM),
    # user-mode Linux 6.1 then keeps FP registers in FXSAVE form (conformance/runtimes.py)
    "xstate-regset": ("ptrace", PTRACE_GETREGSET, errno.EIO),
}


class SeccompUnavailable(Exception):
    pass


def program(machine: str, refusals: list[str]) -> bytes:
    """The BPF filter: each refusal answers its errno, everything else is allowed."""
    if machine not in ARCHES:
        raise SeccompUnavailable(f"no seccomp filter for machine {machine!r}")
    arch, numbers = ARCHES[machine]
    allow = (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)
    body = []
    for name in refusals:
        syscall, arg0, err = REFUSALS[name]
        deny = (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | err)
        if arg0 is None:  # nr == syscall -> deny, else fall through to the next check
            body += [(BPF_LD_W_ABS, 0, 0, OFFSET_NR), (BPF_JEQ_K, 0, 1, numbers[syscall]), deny]
        else:  # nr == syscall and arg0 == value -> deny
            body += [(BPF_LD_W_ABS, 0, 0, OFFSET_NR), (BPF_JEQ_K, 0, 3, numbers[syscall]),
                     (BPF_LD_W_ABS, 0, 0, OFFSET_ARG0), (BPF_JEQ_K, 0, 1, arg0), deny]
    insns = [(BPF_LD_W_ABS, 0, 0, OFFSET_ARCH), (BPF_JEQ_K, 0, len(body), arch), *body, allow]
    return b"".join(struct.pack("HBBI", *insn) for insn in insns)


def refuse(refusals: list[str]) -> None:
    """Install the filter on this process (inherited by children and across exec)."""
    if sys.platform != "linux":
        raise SeccompUnavailable("seccomp filters exist on Linux only")
    code = program(platform.machine(), refusals)
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SeccompUnavailable(f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(ctypes.get_errno())}")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise SeccompUnavailable(f"prctl(PR_SET_SECCOMP): {os.strerror(ctypes.get_errno())}")


def main(argv: list[str]) -> int:
    refusals = []
    while argv[:1] == ["--refuse"] and len(argv) > 1 and argv[1] in REFUSALS:
        refusals.append(argv[1])
        argv = argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv or argv[0].startswith("-"):
        print(f"usage: python -m conformance.seccomp [--refuse {'|'.join(REFUSALS)}]... -- COMMAND [ARG...]",
              file=sys.stderr)
        return 2
    try:
        refuse(refusals or ["af-inet6"])
    except SeccompUnavailable as exc:
        print(f"conformance.seccomp: {exc}", file=sys.stderr)
        return 3
    return exec_command("conformance.seccomp", argv)


def exec_command(launcher: str, argv: list[str]) -> int:
    """Replace this process with argv; 127 and a one-line message when it cannot run."""
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"{launcher}: cannot run {argv[0]}: {exc.strerror}", file=sys.stderr)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
