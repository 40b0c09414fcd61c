"""Ports for cells that need the same port number in both families.

The coexist family and the state machine bind several sockets to one port. If anything
else holds that port in either family, they would record a conflict that is not the one
under test. So ports come from outside this OS's ephemeral range, read from the OS
itself (no connect() or bind(0) lands there), each pytest-xdist worker draws from its own block, concurrent
runs of the suite by one user take a lock on each port they use (another user's run,
which has its own lock folder, is caught by the next check), and a conflict is only
believed when the port turns out free in both families right after.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import random
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from conformance.scratch import scratch_folder

try:
    import fcntl
except ImportError:  # Windows: the xdist blocks are all the separation there is
    fcntl = None  # type: ignore[assignment]

# Where ports come from when the ephemeral range leaves it alone: below Linux's 32768
# and the 49152 of Windows and macOS, well above the usual services.
PREFERRED = range(20000, 32000)
UNPRIVILEGED = range(1024, 65536)

# Each OS's default ephemeral range, for when it cannot be read: Linux ip(7)
# ip_local_port_range; macOS and FreeBSD net.inet.ip.portrange.first/last (FreeBSD's
# default is 10000-65535, inet(4)); OpenBSD picks ports for connect() and bind(0) from
# net.inet.ip.portfirst/portlast (1024-49151, sysctl(2)), its porthifirst/porthilast
# (49152-65535) only for sockets that ask for IP_PORTRANGE_HIGH; Windows 49152-65535
# (KB929851, `netsh int ipv4 show dynamicport tcp`).
DEFAULT_EPHEMERAL = {"linux": range(32768, 61000), "darwin": range(49152, 65536), "freebsd": range(10000, 65536),
                     "openbsd": range(1024, 49152), "win32": range(49152, 65536)}
SYSCTLS = {"darwin": ("net.inet.ip.portrange.first", "net.inet.ip.portrange.last"),
           "freebsd": ("net.inet.ip.portrange.first", "net.inet.ip.portrange.last"),
           "openbsd": ("net.inet.ip.portfirst", "net.inet.ip.portlast")}
READ_TIMEOUT = 10.0


def os_family(platform: str) -> str:
    """sys.platform without its version suffix: freebsd14 -> freebsd."""
    return "win32" if platform == "win32" else re.sub(r"\d+$", "", platform)


def parse_bounds(text: str) -> range | None:
    """'32768\t60999' (Linux) or '10000\n65535\n' (sysctl -n, two names): first..last."""
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if len(numbers) != 2 or not 0 < numbers[0] <= numbers[1] < 65536:
        return None
    return range(numbers[0], numbers[1] + 1)


def parse_netsh(text: str) -> range | None:
    """`netsh int ipv4 show dynamicport tcp`: "Start Port : 49152" and "Number of Ports :
    16384", read as the numbers after the colons (the labels are translated)."""
    numbers = [int(n) for n in re.findall(r":\s*(\d+)", text)]
    if len(numbers) != 2 or numbers[1] < 1 or numbers[0] + numbers[1] > 65536:
        return None
    return range(numbers[0], numbers[0] + numbers[1])


def _output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=READ_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


def read_ephemeral(platform: str) -> range | None:
    """The ephemeral range this OS reports, or None when it cannot be read."""
    family = os_family(platform)
    if family == "linux":
        try:
            return parse_bounds(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text())
        except OSError:
            return None
    if family in SYSCTLS:
        return parse_bounds(_output(["sysctl", "-n", *SYSCTLS[family]]))
    if family == "win32":
        return parse_netsh(_output(["netsh", "int", "ipv4", "show", "dynamicport", "tcp"]))
    return None


def usable(ephemeral: range | None) -> range:
    """PREFERRED when the ephemeral range leaves it alone, else the widest stretch of
    unprivileged ports outside the ephemeral range (FreeBSD: 1024-9999, OpenBSD: 49152-65535)."""
    if ephemeral is None or ephemeral.stop <= PREFERRED.start or ephemeral.start >= PREFERRED.stop:
        return PREFERRED
    below = range(UNPRIVILEGED.start, max(ephemeral.start, UNPRIVILEGED.start))
    above = range(min(ephemeral.stop, UNPRIVILEGED.stop), UNPRIVILEGED.stop)
    widest = max(below, above, key=len)
    return widest if len(widest) else PREFERRED  # nothing outside it: held_elsewhere still guards


@functools.lru_cache(maxsize=1)
def pool() -> range:
    """The ports this machine's runs draw from, read once per process."""
    ephemeral = read_ephemeral(sys.platform)
    if ephemeral is None:
        ephemeral = DEFAULT_EPHEMERAL.get(os_family(sys.platform))
    return usable(ephemeral)


def block() -> range:
    """This worker's share of the range."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1), 1)
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    whole = pool()
    size = len(whole) // count
    start = whole.start + (index % count) * size
    return range(start, start + size)


_random = random.SystemRandom()  # not the global one, which Hypothesis seeds per example


def pick() -> int:
    return _random.choice(block())


@contextlib.contextmanager
def reserved() -> Iterator[int]:
    """A port from this worker's block that no other run of the suite is using."""
    if fcntl is None:
        yield pick()
        return
    folder = scratch_folder("ports")
    while True:
        port = pick()
        handle = open(folder / f"{port}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            handle.close()
    with handle:  # closing the file releases the lock
        yield port


@contextlib.contextmanager
def free() -> Iterator[int]:
    """A reserved port that nothing holds yet, in either family, for TCP or UDP."""
    while True:
        with reserved() as port:
            if not (held_elsewhere(port, "tcp") or held_elsewhere(port, "udp")):
                yield port
                return


# A bind that says the port is not ours to use: taken, or (Windows) inside a range that
# Hyper-V or WinNAT excluded, where every bind fails with WSAEACCES.
UNUSABLE = {errno.EADDRINUSE, errno.EACCES, getattr(errno, "WSAEACCES", errno.EACCES)}


def held_elsewhere(port: int, proto: str) -> bool:
    """Is the port taken (or barred) in either family by something that is not ours?
    (Ask only after closing our own sockets on it.)"""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            with socket.socket(family, kind) as sock:
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address, port))
        except OSError as exc:
            if exc.errno in UNUSABLE:
                return True
    return False
