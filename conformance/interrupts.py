"""How a command of this suite ends when it is told to: SIGTERM unwinds like Ctrl-C
(KeyboardInterrupt), so that every ``finally`` runs and ends the sockets, servers and
sessions it started, and nothing half-done is written."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import NoReturn


def interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises KeyboardInterrupt; the caller's handler is put back.
    Outside the main thread, or where SIGTERM cannot be caught, it changes nothing."""
    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except (ValueError, OSError):  # not the main thread: the caller handles signals
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
