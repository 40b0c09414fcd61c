"""Run a command on a machine without AF_INET6, the way a Linux kernel booted with
ipv6.disable=1 answers: socket(AF_INET6, ...) fails with EAFNOSUPPORT.

A seccomp filter makes that real for one process tree without touching the host:
``python -m conformance.seccomp -- COMMAND...``. Linux on x86_64 and aarch64 only.
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
# machine -> (AUDIT_ARCH_*, number of the socket syscall)
ARCHES = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}


class SeccompUnavailable(Exception):
    pass


def program(machine: str) -> bytes:
    """The BPF filter: socket(AF_INET6, ...) -> EAFNOSUPPORT, everything else allowed."""
    if machine not in ARCHES:
        raise SeccompUnavailable(f"no seccomp filter for machine {machine!r}")
    arch, nr_socket = ARCHES[machine]
    insns = [
        (BPF_LD_W_ABS, 0, 0, OFFSET_ARCH),
        (BPF_JEQ_K, 0, 5, arch),  # another ABI: allow
        (BPF_LD_W_ABS, 0, 0, OFFSET_NR),
        (BPF_JEQ_K, 0, 3, nr_socket),
        (BPF_LD_W_ABS, 0, 0, OFFSET_ARG0),
        (BPF_JEQ_K, 0, 1, socket.AF_INET6),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EAFNOSUPPORT),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    return b"".join(struct.pack("HBBI", *insn) for insn in insns)


def refuse_af_inet6() -> None:
    """Install the filter on this process (inherited by children and across exec)."""
    if sys.platform != "linux":
        raise SeccompUnavailable("seccomp filters exist on Linux only")
    code = program(platform.machine())
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
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m conformance.seccomp -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    try:
        refuse_af_inet6()
    except SeccompUnavailable as exc:
        print(f"conformance.seccomp: {exc}", file=sys.stderr)
        return 3
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"conformance.seccomp: cannot run {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
