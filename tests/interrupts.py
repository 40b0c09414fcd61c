"""Interrupt a real ``dualstack run`` at a chosen moment and count what it left behind:
processes of the run still alive, sockets they hold, temporary folders, and damage to
the complete record that was in --out before. Used by tests/test_interrupts.py and by
tests/benchmarks/soak_interrupts.py (the README's numbers)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from conformance.machine import os_name
from conformance.run_record import fingerprint, record_name
from matrix import record

ROOT = Path(__file__).resolve().parent.parent
MARK = "DUALSTACK_INTERRUPT_TRIAL"
EXIT_GRACE = 60.0


@dataclass
class Trial:
    delay: float
    workers: bool
    whole_group: bool  # a terminal's Ctrl-C (the process group) or a signal to dualstack alone
    exit_status: int | None = None
    processes: int = 0
    sockets: int = 0
    scratch: int = 0
    record_damaged: bool = False

    @property
    def clean(self) -> bool:
        return self.processes == self.sockets == self.scratch == 0 and not self.record_damaged \
            and self.exit_status in (0, 1, 130)


def committed_record() -> Path:
    (path,) = sorted((ROOT / "reports" / "runs").glob("linux-*-default.json"))
    return path


def marked(marker: str) -> list[int]:
    needle = f"{MARK}={marker}".encode() + b"\0"
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
    return found


def socket_inodes(pids: list[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    return inodes


def bound_sockets(inodes: set[str]) -> int:
    """Sockets among ``inodes`` bound to a port (TCP or UDP, IPv4 or IPv6)."""
    count = 0
    for table in ("tcp", "tcp6", "udp", "udp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes and not fields[1].endswith(":0000"):
                    count += 1
    return count


def wait_for_exit(pids_of, deadline: float) -> list[int]:
    """Poll (bounded) until nothing carrying the marker is alive; what still is."""
    import time

    end = time.monotonic() + deadline
    alive = pids_of()
    while alive and time.monotonic() < end:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-1, os.WNOHANG)
        time.sleep(0.05)
        alive = pids_of()
    return alive


def interrupt(delay: float, *, workers: bool, whole_group: bool) -> Trial:
    trial = Trial(delay, workers, whole_group)
    marker = uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="dualstack-trial-") as base:
        out, tmp = Path(base) / "runs", Path(base) / "tmp"
        out.mkdir()
        tmp.mkdir()
        complete = out / record_name(fingerprint(os_name(), "default"))
        shutil.copy(committed_record(), complete)
        before = complete.read_bytes()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.update({MARK: marker, "TMPDIR": str(tmp), "DUALSTACK_SHARED_TMP": tempfile.gettempdir()})
        command = [sys.executable, "-m", "conformance.cli", "run", "--out", str(out)]
        command += ["-n", "2"] if workers else []
        run = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        try:
            run.wait(timeout=delay)  # a run that ends sooner is simply not interrupted
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                if whole_group:
                    os.killpg(run.pid, signal.SIGINT)
                else:
                    run.send_signal(signal.SIGINT)
        try:
            trial.exit_status = run.wait(timeout=EXIT_GRACE)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
        alive = wait_for_exit(lambda: marked(marker), 2.0)
        trial.processes = len(alive)
        trial.sockets = bound_sockets(socket_inodes(alive))
        for pid in alive:  # leave the machine as it was, whatever the trial found
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        trial.scratch = len(list(tmp.iterdir()))
        trial.record_damaged = damaged(out, complete, before)
    return trial


def damaged(out: Path, complete: Path, before: bytes) -> bool:
    """Anything in --out but the complete record, or a complete record that is no longer
    one: the old bytes, or a new complete record of a run that finished."""
    others = [p.name for p in out.iterdir() if p != complete]
    if others or not complete.exists():
        return True
    if complete.read_bytes() == before:
        return False
    try:
        data = record.load(complete)
    except record.RecordError:
        return True
    return bool(data["run"].get("partial")) or data["run"].get("exit_status") not in (0, 1)
