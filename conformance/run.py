"""One run of the suite: a pytest session per variant, each in a process group of its
own, its record staged until every variant has ended.

Signals: Ctrl-C or SIGTERM to ``dualstack run`` is passed on to the running session as
SIGINT, so that it ends its cells and their servers itself; after a bounded grace its
whole process group is killed. An interrupted run writes no record and replaces none.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from conformance.interrupts import terminate_as_interrupt
from conformance.scratch import SHARED_TMP
from conformance.vocabulary import ExitStatus

SUITE = Path(__file__).parent / "suite"
VARIANT_CHECK_TIMEOUT = 30.0
INTERRUPT_GRACE = 15.0  # a subject's own kill grace is 5 s
PYTEST_INTERRUPTED, PYTEST_USAGE, PYTEST_NO_TESTS = 2, 4, 5
# what Ctrl-C is to a session in a process group of its own (Windows: CTRL_BREAK_EVENT)
INTERRUPT = signal.SIGINT if os.name == "posix" else getattr(signal, "CTRL_BREAK_EVENT", signal.SIGINT)
RUN_MARKER = "DUALSTACK_RUN"  # in the environment of every process a run starts


def pytest_command(args, staged: Path, variant: str, final: Path) -> list[str]:
    command = [sys.executable, "-m", "pytest", str(SUITE), "--dualstack-record", str(staged),
               "--dualstack-record-as", str(final), "--dualstack-variant", variant]
    if args.workers is not None:
        command += ["-n", args.workers]
    for pattern in args.cells:
        command += ["--dualstack-cells", pattern]
    if args.expectations is not None:
        command += ["--dualstack-expectations", str(Path(args.expectations).resolve())]
    return command + args.pytest_args


def variant_unavailable(variant: str) -> str | None:
    """None when the variant's namespace can be made here, else the one-line reason."""
    check = subprocess.run([sys.executable, "-m", "conformance.variants", variant, "--check"],
                           capture_output=True, text=True, timeout=VARIANT_CHECK_TIMEOUT)
    if check.returncode == 0:
        return None
    return (check.stderr.strip().splitlines() or [f"exit status {check.returncode}"])[-1]


def child_environment() -> dict[str, str]:
    """The run's environment, with the user named: inside a variant's user namespace the
    uid is 0, and pytest would take the user for root (and its /tmp/pytest-of-root)."""
    env = dict(os.environ)
    with contextlib.suppress(Exception):
        user = getpass.getuser()
        env.setdefault("USER", user)
        env.setdefault("LOGNAME", user)
    return env


def run_child(command: list[str], scratch: Path) -> int:
    """Run one pytest session in a process group of its own. Ctrl-C or SIGTERM here is
    passed on as SIGINT so that it ends its cells (and their servers) itself; it gets a
    bounded grace, then its whole group is killed. Raises KeyboardInterrupt after that.
    Whatever it left behind is swept afterwards: every process that carries this run's
    marker in its environment, and every temporary folder (its TMPDIR is ``scratch``)."""
    popen_extra: dict = {"start_new_session": True} if os.name == "posix" else \
        {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    # from the suite's folder: a `conformance` folder in the caller's cwd (a checkout) must
    # not shadow the installed package that `python -m pytest` runs
    marker = f"{RUN_MARKER}={uuid.uuid4()}"
    env = {**child_environment(), RUN_MARKER: marker.split("=", 1)[1], "TMPDIR": str(scratch),
           SHARED_TMP: os.environ.get(SHARED_TMP) or tempfile.gettempdir()}
    child = subprocess.Popen(command, cwd=SUITE, env=env, **popen_extra)
    try:
        with terminate_as_interrupt():
            return child.wait()
    except KeyboardInterrupt:
        end_child(child)
        raise
    finally:
        sweep(marker)


def end_child(child: subprocess.Popen) -> None:
    """SIGINT, a bounded wait, then the whole group killed."""
    with contextlib.suppress(ProcessLookupError, OSError):
        child.send_signal(INTERRUPT)
    try:
        child.wait(timeout=INTERRUPT_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, OSError):
            if os.name == "posix":
                os.killpg(child.pid, signal.SIGKILL)
            else:
                child.kill()
        child.wait(timeout=INTERRUPT_GRACE)


def leftovers(marker: str) -> list[int]:
    """The processes still alive that carry ``marker`` (NAME=VALUE) in their environment.
    Linux only (/proc); elsewhere the session's own clean-up is all there is."""
    needle = marker.encode() + b"\0"
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if needle in (entry / "environ").read_bytes() and int(entry.name) != os.getpid():
                found.append(int(entry.name))
    return found


def sweep(marker: str) -> None:
    """Kill what a run left running: a worker killed mid-cell cannot end its servers."""
    for pid in leftovers(marker):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def run_one(args, variant: str, staged: Path, final: Path) -> tuple[int, str | None]:
    """(pytest exit code, skip reason) for one variant; its record goes to ``staged``
    until every variant has run, then to ``final``."""
    from conformance.variants import known

    command = pytest_command(args, staged, variant, final)
    if variant in known():
        reason = variant_unavailable(variant)
        if reason is not None:
            return 0, reason
        command = [sys.executable, "-m", "conformance.variants", variant, "--", *command]
    scratch = staged.parent / f"tmp-{staged.stem}"
    scratch.mkdir()
    return run_child(command, scratch), None


def exit_status(codes: list[int]) -> ExitStatus:
    """The worst outcome over the runs, in the CLI's terms."""
    if any(c == PYTEST_USAGE for c in codes):
        return ExitStatus.USAGE
    if any(c == PYTEST_NO_TESTS for c in codes):
        print("dualstack: no cell was selected; no record written", file=sys.stderr)
        return ExitStatus.USAGE
    if any(c not in (0, 1) for c in codes):
        print(f"dualstack: a run did not complete (pytest exit {max(codes)})", file=sys.stderr)
        return ExitStatus.BROKEN
    return ExitStatus.DEVIATES if 1 in codes else ExitStatus.OK
