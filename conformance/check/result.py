"""The result of a check as a document (schema matrix/schemas/check-1.schema.json): one
entry per environment, and the exit status they add up to.

Exit status: 0 every client of --expect reached the server in every environment checked;
1 one did not; 2 bad input, or no environment asked for could be made here; 3 the server
never listened in an environment, or the check itself could not complete there. With
several environments the worst wins: 3, then 1, then 0.
"""

from __future__ import annotations

import json
import time
from typing import Any

from conformance.check.answer import meaning, shape
from conformance.check.environments import Environment
from conformance.check.request import Request
from conformance.vocabulary import ExitStatus, Outcome, UsageError, Word

SCHEMA = "dualstack-conformance/check/1"
# the dualstack command's exit statuses, as the check uses them
EXIT_OK = ExitStatus.OK
EXIT_UNREACHED = ExitStatus.DEVIATES  # an expected client did not reach the server
EXIT_USAGE = ExitStatus.USAGE
EXIT_NOT_LISTENING = ExitStatus.BROKEN  # the server never listened, or the check broke
EXIT_INTERRUPTED = ExitStatus.INTERRUPTED


class Status(Word):
    """What became of the check in one environment."""

    CHECKED = "checked"  # it listened and the clients were probed
    NOT_LISTENING = "not-listening"  # it exited, or was not listening by the deadline
    SKIPPED = "skipped"  # the environment cannot be made here (the reason says why)
    ERROR = "error"  # the check itself broke in that environment


def outcome(environment: Environment, status: Status, reason: str | None, began: float | None = None,
            port: int | None = None, tail: list[str] | None = None) -> dict[str, Any]:
    """An environment's result where the clients were not probed."""
    return {"name": environment.name, "runtime": environment.runtime, "variant": environment.variant,
            "status": status, "reason": reason, "port": port,
            "seconds": None if began is None else round(time.monotonic() - began, 3),
            "clients": {}, "listeners": [], "listing": None, "shape": None, "means": None, "fix": None,
            "recipes": [], "output_tail": tail or []}


def observed(environment: Environment, port: int, clients: dict[str, dict[str, Any]], listed: list[str] | None,
             began: float) -> dict[str, Any]:
    """An environment's result where the server listened and the clients were probed."""
    listener_shape = shape(listed)
    return dict(outcome(environment, Status.CHECKED, None, began, port), clients=clients, listeners=listed or [],
                listing=listed is not None, shape=listener_shape, **meaning(clients, listener_shape))


def exit_status(envs: list[dict[str, Any]], expect: tuple[str, ...]) -> int:
    statuses = {env["status"] for env in envs}
    if statuses & {Status.NOT_LISTENING, Status.ERROR}:
        return EXIT_NOT_LISTENING
    if Status.CHECKED not in statuses:
        return EXIT_USAGE  # nothing asked for could be made here: not a pass
    missed = [env for env in envs if env["status"] == Status.CHECKED
              and any(env["clients"][name]["outcome"] != Outcome.OK for name in expect)]
    return EXIT_UNREACHED if missed else EXIT_OK


def result(request: Request, expect: tuple[str, ...], envs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema": SCHEMA, "command": list(request.command), "proto": request.proto,
            "expect": list(expect), "exit_status": exit_status(envs, expect), "environments": envs}


def check_writable(path: str) -> None:
    """--json FILE: its folder is there and writable, before anything runs."""
    from matrix.record import RecordError
    from matrix.record import check_writable as writable

    try:
        writable(path)
    except RecordError as exc:
        raise UsageError(f"dualstack check: --json {exc}") from exc


def serialized(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1)


def write(data: dict[str, Any], path: str) -> None:
    """--json FILE, written atomically: a reader never sees half a document."""
    from matrix.record import write_text_atomic

    write_text_atomic(path, serialized(data) + "\n")
