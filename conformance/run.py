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
from dataclasses import dataclass
from pathlib import Path

from conformance import runtimes
from conformance.interrupts import terminate_as_interrupt
from conformance.run_record import VariantStatus
from conformance.scratch import SHARED_TMP
from conformance.vocabulary import ExitStatus
from matrix import record

SUITE = Path(__file__).parent / "suite"
VARIANT_CHECK_TIMEOUT = 30.0
INTERRUPT_GRACE = 15.0  # a subject's own kill grace is 5 s
PYTEST_INTERRUPTED, PYTEST_USAGE, PYTEST_NO_TESTS = 2, 4, 5
# what Ctrl-C is to a session in a process group of its own (Windows: CTRL_BREAK_EVENT)
INTERRUPT = signal.SIGINT if os.name == "posix" else getattr(signal, "CTRL_BREAK_EVENT", signal.SIGINT)
RUN_MARKER = "DUALSTACK_RUN"  # in the environment of every process a run starts


def pytest_command(args, staged: Path, variant: str, final: Path, runtime: str = runtimes.HOST) -> list[str]:
    # -c and --rootdir: the suite's own pytest.ini, whichever folders the record paths name
    command = [sys.executable, "-m", "pytest", str(SUITE), "-c", str(SUITE / "pytest.ini"), "--rootdir", str(SUITE),
               "--dualstack-record", str(staged), "--dualstack-record-as", str(final),
               "--dualstack-variant", variant, "--dualstack-runtime", runtime]
    if args.workers is not None:
        command += ["-n", args.workers]
    for pattern in args.cells:
        command += ["--dualstack-cells", pattern]
    if args.expectations is not None:
        command += ["--dualstack-expectations", str(Path(args.expectations).resolve())]
    return command + args.pytest_args


def variant_unavailable(variant: str, runtime: str = runtimes.HOST) -> str | None:
    """None when the variant's namespace can be made here (inside the runtime), else the
    one-line reason."""
    command = [sys.executable, "-m", "conformance.variants", variant, "--check"]
    if runtime != runtimes.HOST:
        code, last = runtimes.try_inside(runtime, command, cwd=SUITE, deadline=VARIANT_CHECK_TIMEOUT)
        return None if code == 0 else last or f"exit status {code}"
    check = subprocess.run(command, capture_output=True, text=True, timeout=VARIANT_CHECK_TIMEOUT)
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


def run_one(args, variant: str, staged: Path, final: Path, runtime: str = runtimes.HOST) -> tuple[int, str | None]:
    """(pytest exit code, skip reason) for one variant in one runtime; its record goes to
    ``staged`` until every run has ended, then to ``final``."""
    from conformance.variants import known

    command = pytest_command(args, staged, variant, final, runtime)
    if variant in known():
        reason = variant_unavailable(variant, runtime)
        if reason is not None:
            return 0, reason
        command = [sys.executable, "-m", "conformance.variants", variant, "--", *command]
    # inside a runtime, only the staging folder is writable: the record and the scratch
    command = runtimes.command_inside(runtime, command, staged.parent)
    scratch = staged.parent / f"tmp-{staged.stem}"
    scratch.mkdir()
    code = run_child(command, scratch)
    if code == runtimes.SKIP:
        return 0, f"{runtime} could not start (its reason is printed above)"
    return code, None


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


@dataclass(frozen=True)
class Planned:
    """One run of the suite: a variant in a runtime."""

    name: str  # "variant" on the host, "runtime/variant" inside a runtime
    runtime: str
    variant: str
    out: Path  # where its record goes once every run has ended
    unavailable: str | None = None  # why its runtime cannot start here


def run_all(args, plan: list[Planned]) -> tuple[list[VariantStatus], list[int], list[Path]]:
    """Run every planned session, one after the other, then write their records.

    Each session writes its record into a staging folder; only when every session has
    ended are the records written to their places, once each, with every run's status,
    so that an interrupted run never replaces a record. (statuses, pytest exit codes,
    records written)."""
    status: list[VariantStatus] = []
    codes: list[int] = []
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="dualstack-run-") as staging:
        staged = {p.name: Path(staging) / f"{i}.json" for i, p in enumerate(plan)}
        for i, planned in enumerate(plan, 1):
            if len(plan) > 1:
                print(f"dualstack: {planned.name} ({i} of {len(plan)})", flush=True)
            code, reason = (0, planned.unavailable) if planned.unavailable else \
                run_one(args, planned.variant, staged[planned.name], planned.out, planned.runtime)
            if code == PYTEST_INTERRUPTED:  # the session got the signal first
                raise KeyboardInterrupt
            if reason is not None:
                status.append({"name": planned.name, "status": "skipped", "reason": reason})
                print(f"dualstack: {planned.name} skipped: {reason}", flush=True)
                continue
            ran = code in (0, 1) and staged[planned.name].exists()
            status.append({"name": planned.name, "status": "ran" if ran else "failed",
                           "reason": None if ran else f"pytest exit {code}"})
            codes.append(code)
        for planned in plan:
            if staged[planned.name].exists():
                data = record.load(staged[planned.name])
                if len(plan) > 1:
                    data["variants"] = status
                record.write(planned.out, data)
                written.append(planned.out)
    return status, codes, written
