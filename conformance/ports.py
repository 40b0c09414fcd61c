"""Ports for cells that need the same port number in both families.

The coexist family and the state machine bind several sockets to one port. If anything
else holds that port in either family, they would record a conflict that is not the one
under test. So ports come from below every OS's ephemeral range (no connect() or
bind(0) lands there), each pytest-xdist worker draws from its own block, concurrent
runs of the suite by one user take a lock on each port they use (another user's run,
which has its own lock folder, is caught by the next check), and a conflict is only
believed when the port turns out free in both families right after.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import socket
from collections.abc import Iterator

from conformance.scratch import scratch_folder

try:
    import fcntl
except ImportError:  # Windows: the xdist blocks are all the separation there is
    fcntl = None  # type: ignore[assignment]

FIRST, LAST = 20000, 32000  # below Linux's 32768 and the 49152 of Windows and macOS


def block() -> range:
    """This worker's share of the range."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    size = (LAST - FIRST) // max(count, 1)
    start = FIRST + (index % max(count, 1)) * size
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
