"""One check of the user's server in this process, through the server runner
(conformance/subjects/): start it on a free loopback port, wait (bounded) until it
listens, probe it from the three clients, record the listing tool's lines for the port,
and end it and everything it forked on every path, Ctrl-C included.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conformance import ports, subjects
from conformance.check.environments import Environment
from conformance.check.probe import probe, probe_all
from conformance.check.request import Request
from conformance.check.result import Status, observed, outcome
from conformance.vocabulary import CLIENTS, Outcome

TAIL_LINES = 10


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """A second Ctrl-C (or TERM) must not cut the clean-up short and leave the server running."""
    try:
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (a test's worker thread): nothing to hold off
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def check_here(request: Request, environment: Environment) -> dict[str, Any]:
    """Start, wait, probe, list, and always end the server and its group."""
    began = time.monotonic()
    with ports.free() as port, tempfile.TemporaryDirectory(prefix="dualstack-check-") as logs:
        output = Path(logs) / "output"
        argv = [part.replace("{port}", str(port)) for part in request.command]
        try:
            process = subjects.start(argv, output, cwd=request.cwd, env={"PORT": str(port)})
        except OSError as exc:  # checked before, but the environment's PATH or files may differ
            return outcome(environment, Status.ERROR, f"cannot run {argv[0]}: {exc.strerror}", began, port)
        try:
            state = wait_listening(process, port, request)
            if state == Outcome.OK:
                clients = probe_all(port, request.udp)
                listed = subjects.listeners(port, request.proto)
                if process.poll() is None:
                    return observed(environment, port, clients, listed, began)
                reason = f"exited right after it started listening (exit status {process.poll()})"
            elif state == Outcome.START_ERROR:
                reason = f"exited with status {process.poll()} before it listened"
            else:
                reason = f"not listening on port {port} after {request.timeout:g} s"
        finally:
            with uninterrupted():
                subjects.kill(process)
        tail = output.read_text(errors="replace").splitlines()[-TAIL_LINES:]
        return outcome(environment, Status.NOT_LISTENING, reason, began, port, tail)


def wait_listening(process: subprocess.Popen, port: int, request: Request) -> str:
    """ok, start-error or timeout. TCP: the server runner's wait. UDP has no connect that
    answers, so the listing tool decides (or, where there is none, a datagram that is not
    refused)."""
    if not request.udp:
        return subjects.wait_ready(process, port, request.timeout)
    end = time.monotonic() + request.timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            return Outcome.START_ERROR
        listed = subjects.listeners(port, "udp")
        if listed or (listed is None and probe(port, CLIENTS["ipv4"], udp=True)["outcome"] == Outcome.OK):
            return Outcome.OK
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=subjects.POLL)  # returns at once if the server dies
    return Outcome.TIMEOUT
