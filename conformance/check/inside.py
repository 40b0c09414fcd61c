"""A check inside another environment: the inner-process protocol.

In a variant (a network namespace, made by ``python -m conformance.variants``) or a
runtime, the check runs itself there as ``python -m conformance.check --inner ...``, which
checks that one environment as the host's default one and prints its result as the last
line of its output, one line of JSON. Exit status 77 (conformance.variants.SKIP) and the
last line of its standard error say that the environment cannot be made here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conformance import subjects
from conformance.check.environments import HERE, Environment, Runtime, known_runtimes
from conformance.check.request import Request
from conformance.check.result import Status, outcome
from conformance.check.server import check_here, uninterrupted
from conformance.variants import SKIP

INNER_MARGIN = 60.0  # namespace set-up, interpreter start and the kill grace, on top of --timeout
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # where `python -m conformance...` finds this package


# The inner check's answer, one line on its standard output: marked, because a runtime
# may print lines of its own there (user-mode Linux's kernel does).
ANSWER = "dualstack-check-answer: "


def check_in(request: Request, environment: Environment) -> dict[str, Any]:
    """The environment's result: checked here, or inside it."""
    if environment.here:
        return check_here(request, environment)
    return check_inside(request, environment, known_runtimes()[environment.runtime])


def inner_command(request: Request, environment: Environment, runtime: Runtime) -> list[str]:
    argv = [sys.executable, "-m", "conformance.check", "--inner", "--cwd", request.cwd,
            "--timeout", repr(request.timeout), *(["--udp"] if request.udp else []),
            *(["--port-env"] if request.port_env else []), "--", *request.command]
    if environment.variant != HERE.variant:
        argv = [sys.executable, "-m", "conformance.variants", environment.variant, "--", *argv]
    return runtime.wrap(argv)


def check_inside(request: Request, environment: Environment, runtime: Runtime) -> dict[str, Any]:
    """This package, run inside the environment; its last answer line is the result."""
    reason = runtime.unavailable()
    if reason is not None:
        return outcome(environment, Status.SKIPPED, reason)
    began = time.monotonic()
    # from the package's folder: a `conformance` folder in the user's cwd must not shadow
    # this package (the server itself still starts in the user's cwd: --cwd)
    process = subprocess.Popen(inner_command(request, environment, runtime), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PACKAGE_ROOT,
                               start_new_session=os.name == "posix")
    try:
        stdout, stderr = process.communicate(timeout=request.timeout + INNER_MARGIN)
    except subprocess.TimeoutExpired:
        return outcome(environment, Status.ERROR, f"the check did not finish in {request.timeout + INNER_MARGIN:g} s",
                       began)
    finally:
        with uninterrupted():
            subjects.kill(process)  # its SIGTERM handler ends the server first
    said = (stderr.strip().splitlines() or [f"exit status {process.returncode}"])[-1]
    if process.returncode == SKIP:
        return outcome(environment, Status.SKIPPED, said)
    answers = [line[len(ANSWER):] for line in stdout.splitlines() if line.startswith(ANSWER)]
    try:
        data = json.loads(answers[-1])
    except (IndexError, ValueError):
        return outcome(environment, Status.ERROR, f"the check broke there: {said}", began)
    return dict(data, name=environment.name, runtime=environment.runtime, variant=environment.variant)


def answer_inside(request: Request) -> None:
    """The inner end: this environment only, as the host's default one, in one line of JSON."""
    print(ANSWER + json.dumps(check_here(request, HERE)), flush=True)
