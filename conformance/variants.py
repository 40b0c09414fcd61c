"""Linux platform variants: the suite inside a fresh network namespace.

``python -m conformance.variants NAME [--check] -- COMMAND...`` moves this process into
a new network namespace (as root, or through an unprivileged user namespace), brings
``lo`` up, applies the variant from conformance/data/variants.toml, then runs COMMAND
there. The host's namespace and settings are never touched: the namespace disappears
with the process. When no namespace can be made, it says why in one line and exits
SKIP (77), so a caller can record the variant as skipped.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from conformance import seccomp
from conformance.datafiles import load_toml

SKIP = 77  # the automake convention for "skipped"
CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
IFREQ = "16sH22x"  # struct ifreq: name, flags, rest of the union
COMMAND_TIMEOUT = 10.0


class VariantUnavailable(Exception):
    """The variant cannot be made here; str() is the one-line reason."""


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    sysctls: tuple[tuple[str, str], ...] = ()
    commands: tuple[tuple[str, ...], ...] = ()
    refuse: tuple[str, ...] = ()


def known() -> dict[str, Variant]:
    return {
        name: Variant(name, spec["description"], tuple(spec.get("sysctls", {}).items()),
                      tuple(tuple(c) for c in spec.get("commands", [])), tuple(spec.get("refuse", [])))
        for name, spec in load_toml("variants.toml").items()
    }


def _unshare(libc, flags: int) -> int:
    return 0 if libc.unshare(flags) == 0 else ctypes.get_errno()


def enter_network_namespace() -> None:
    """A new network namespace for this process; through a user namespace if need be."""
    libc = ctypes.CDLL(None, use_errno=True)
    err = _unshare(libc, CLONE_NEWNET)
    if err == 0:
        return
    uid, gid = os.getuid(), os.getgid()
    err_user = _unshare(libc, CLONE_NEWUSER | CLONE_NEWNET)
    if err_user != 0:
        raise VariantUnavailable(f"cannot create a network namespace: {os.strerror(err)}; "
                                 f"nor a user namespace: {os.strerror(err_user)}")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")


def loopback_up() -> None:
    import fcntl  # Linux only, like the rest of this module's work; the module itself imports everywhere

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _, flags = struct.unpack(IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS, struct.pack(IFREQ, b"lo", 0)))
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def apply(variant: Variant) -> None:
    """Enter a fresh namespace and make it the variant. Raises VariantUnavailable."""
    if sys.platform != "linux":
        raise VariantUnavailable("network-namespace variants need Linux")
    missing = [c[0] for c in variant.commands if shutil.which(c[0]) is None]
    if missing:
        raise VariantUnavailable(f"{missing[0]} is not installed (needed to set up {variant.name})")
    enter_network_namespace()
    try:
        loopback_up()
        for key, value in variant.sysctls:
            Path("/proc/sys", key).write_text(value)
    except OSError as exc:
        raise VariantUnavailable(f"cannot configure the namespace: {exc}") from exc
    for command in variant.commands:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        if done.returncode != 0:
            raise VariantUnavailable(f"{' '.join(command)} failed: {done.stderr.strip()}")
    if variant.refuse:
        try:
            seccomp.refuse(list(variant.refuse))
        except seccomp.SeccompUnavailable as exc:
            raise VariantUnavailable(str(exc)) from exc


def main(argv: list[str]) -> int:
    variants = known()
    usage = f"usage: python -m conformance.variants {{{','.join(variants)}}} [--check] -- COMMAND..."
    if not argv or argv[0] not in variants:
        print(usage if not argv else f"conformance.variants: unknown variant {argv[0]!r}; known: "
              f"{', '.join(variants)}", file=sys.stderr)
        return 2
    variant, rest = variants[argv[0]], argv[1:]
    check = rest[:1] == ["--check"]
    rest = rest[1:] if check else rest
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if not check and not rest:
        print(usage, file=sys.stderr)
        return 2
    try:
        apply(variant)
    except VariantUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return SKIP
    return 0 if check else seccomp.exec_command("conformance.variants", rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
