"""What ``dualstack check`` is asked to do, the same in every environment, and the bad
input refused in one line before anything runs.

The port rule: ``{port}`` must appear in the arguments, since whether a program reads
PORT cannot be seen from outside; ``--port-env`` says it does, and lifts the rule.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from conformance import subjects
from conformance.vocabulary import CLIENTS, UsageError

DEFAULT_TIMEOUT = subjects.READY_DEADLINE
MAX_TIMEOUT = 300.0  # a readiness wait longer than this is a mistake, not a slow server


@dataclass(frozen=True)
class Request:
    """What to run and how to judge it; the same in every environment."""

    command: tuple[str, ...]  # as given, {port} still in it
    udp: bool = False
    timeout: float = DEFAULT_TIMEOUT
    port_env: bool = False
    cwd: str = "."

    @property
    def proto(self) -> str:
        return "udp" if self.udp else "tcp"


def check_request(request: Request) -> None:
    """Bad input in one line, before anything runs."""
    if not request.command:
        raise UsageError("dualstack check: no command after --")
    if not 0 < request.timeout <= MAX_TIMEOUT:
        raise UsageError(f"dualstack check: --timeout {request.timeout:g}: give seconds above 0, at most "
                         f"{MAX_TIMEOUT:.0f}")
    if not request.port_env and not any("{port}" in part for part in request.command):
        raise UsageError("dualstack check: put {port} where the command takes its port (or give --port-env "
                         "if it reads PORT from its environment)")
    if executable(request.command[0], request.cwd) is None:
        raise UsageError(f"dualstack check: cannot run {request.command[0]!r}: no such command")


def executable(name: str, cwd: str) -> str | None:
    """The program a command name runs, as the OS would find it from cwd."""
    if os.sep in name or (os.altsep and os.altsep in name):
        path = Path(cwd, name)
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(name)


def expected(text: str) -> tuple[str, ...]:
    """--expect: the clients that must reach the server."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in CLIENTS]
    if unknown or not names:
        raise UsageError(f"dualstack check: --expect {text!r}: name clients among {', '.join(CLIENTS)}")
    return names
