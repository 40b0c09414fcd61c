"""The server runner: real servers started as their users start them, probed from an
IPv4, an IPv4-mapped and an IPv6 client, listed by the platform's own tool, then always
killed. The subjects family (conformance/families/subjects.py) runs its catalogue of
servers through it, and ``dualstack check`` (conformance/check/) a user's own server.

A server runs in its own process group (its own session on POSIX) so that it and any
workers it forks are killed together, on every path: a failed probe, a server that never
becomes ready, an interrupted run. Readiness is a bounded poll: connect attempts on
loopback, until one succeeds, the server exits, or the deadline.

The public calls: ``start`` and ``kill`` a server, ``wait_ready`` for it, ``listeners``
on its port (TCP or UDP), and ``run_subject`` for all of it at once.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.util
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from conformance.errnames import describe
from conformance.scratch import scratch_folder
from conformance.sockets import client_socket_family, connect_outcome
from conformance.subjects.listings import listeners
from conformance.vocabulary import CLIENTS, Outcome

HERE = Path(__file__).parent
# uvicorn with two workers takes a second or two; a broken subject hits this. A slower
# runtime (user-mode Linux traps every system call) sets a longer one (runtimes.toml).
READY_DEADLINE = float(os.environ.get("DUALSTACK_READY_DEADLINE", "10"))
PROBE_DEADLINE = 5.0
KILL_GRACE = 5.0
SETTLE_DEADLINE = 5.0
DYING = {"error:ECONNRESET", "error:EPIPE", "no-http-answer"}  # answers of a server on its way out
BUILD_TIMEOUT = 300.0
POLL = 0.05  # how often readiness is re-checked
LISTING_EVERY = 0.5  # how often the (slower) listing tool is asked instead; also the longest connect round
WINDOWS = os.name == "nt"
HTTP_REQUEST = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"


class Unavailable(Exception):
    """The subject's toolchain or package is not here; str() is the reason."""


class BuildFailed(Exception):
    """The toolchain is here and building the subject failed: a harness error, never a
    skip (a broken listen.go must not look like a machine without Go)."""


@dataclass
class Run:
    """What a subject did: whether it started, what each client saw, the listeners."""

    outcome: str  # ok, start-error, timeout
    clients: dict = field(default_factory=dict)
    listeners: list = field(default_factory=list)
    notes: list = field(default_factory=list)


# --- toolchains ----------------------------------------------------------------------

def go_binary() -> Path:
    """listen.go built once per machine and source version (a lock keeps builds apart)."""
    go = shutil.which("go")
    if go is None:
        raise Unavailable("go is not on PATH (.ci/run installs Debian's golang-go)")
    source = HERE / "listen.go"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    folder = scratch_folder("go")
    binary = folder / f"listen-{digest}{'.exe' if os.name == 'nt' else ''}"
    with _locked(folder / "build.lock"):
        if not binary.exists():
            env = dict(os.environ, GOCACHE=str(folder / "cache"), GOPATH=str(folder / "gopath"), GO111MODULE="off")
            # built under a name of its own, then renamed: where no lock is taken (Windows),
            # a second build must not overwrite a binary another worker is running
            partial = binary.with_name(f"{binary.stem}-{os.getpid()}.partial{binary.suffix}")
            built = subprocess.run([go, "build", "-o", str(partial), str(source)], capture_output=True, text=True,
                                   timeout=BUILD_TIMEOUT, env=env, cwd=folder)
            if built.returncode != 0:
                raise BuildFailed(f"go build failed: {built.stderr.strip()[-300:]}")
            try:
                os.replace(partial, binary)
            except OSError:  # Windows: the other worker's binary is in place and running
                partial.unlink(missing_ok=True)
    return binary


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a") as handle:
        try:
            import fcntl
            fcntl.flock(handle, fcntl.LOCK_EX)
        except ImportError:  # Windows: builds by parallel workers may repeat, harmlessly
            pass
        yield


def command_for(template: list[str], port: int, needs: list[str]) -> list[str]:
    """The subject's command line, or Unavailable with the reason."""
    for module in needs:
        if importlib.util.find_spec(module) is None:
            raise Unavailable(f"{module} is not installed (pip install 'dualstack-conformance[subjects]')")
    tools = {"{python}": lambda: sys.executable, "{go}": lambda: str(go_binary()),
             "{node}": lambda: shutil.which("node") or _missing("node"), "{here}": lambda: str(HERE)}
    out = []
    for part in template:
        for key, value in tools.items():
            if key in part:
                part = part.replace(key, value())
        out.append(part.replace("{port}", str(port)))
    return out


def _missing(tool: str):
    raise Unavailable(f"{tool} is not on PATH")


# --- one run of a subject -------------------------------------------------------------

def start(command: list[str], output: Path, *, errors: Path | None = None, cwd: str | Path | None = None,
          env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """A server in a process group of its own (a session on POSIX), so that ``kill`` ends
    it and everything it forks together. Its standard output goes into the file
    ``output``, its standard error too unless ``errors`` names a file of its own; ``env``
    is added to this process's environment, with PYTHONUNBUFFERED so that a Python
    server's last words reach the file before it dies."""
    kwargs = {"start_new_session": True} if not WINDOWS else {
        "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    environment = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    with contextlib.ExitStack() as files:
        out = files.enter_context(open(output, "wb"))
        err = subprocess.STDOUT if errors is None else files.enter_context(open(errors, "wb"))
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd,
                                env=environment, **kwargs)


def kill(process: subprocess.Popen) -> None:
    """The subject and everything it started: TERM, then KILL after a grace period;
    returns once every process of its group is gone (or a zombie waiting for init)."""
    if not WINDOWS:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            _signal_group(process, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=KILL_GRACE)
            if _group_dies(process.pid, KILL_GRACE):
                break
    else:
        # even when the launcher has exited: uvicorn's or gunicorn's workers may outlive it,
        # and /T walks the tree from the PID (taskkill answers "not found" when all are gone)
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, timeout=30)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=KILL_GRACE)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """killpg, where a group that is gone or holds only zombies is no error. macOS and the
    BSDs answer EPERM, not ESRCH, for a group whose only members are zombies (XNU's
    killpg1 skips SZOMB processes; airspeed-velocity/asv#304): once the leader has exited
    that is the group dying, not a permission problem."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        if process.poll() is None:  # our own child is alive and we may not signal it: a real error
            raise


def _group_dies(pgid: int, deadline: float) -> bool:
    """Wait, bounded, until no live process is left in the group. On Linux each member
    is watched with a pidfd, so the wait ends the moment the last one exits; elsewhere
    the group is gone or not (orphans are reaped at once there), and KILL follows."""
    end = time.monotonic() + deadline
    while True:
        members = _live_members(pgid)
        if members is None:
            return _gone(pgid)
        if not members:
            return True
        remaining = end - time.monotonic()
        if remaining <= 0:
            return False
        watched = []
        for pid in members:
            with contextlib.suppress(OSError):
                watched.append(os.pidfd_open(pid))
        try:
            select.select(watched, [], [], remaining)
        finally:
            for fd in watched:
                os.close(fd)


def _gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):  # EPERM: only zombies left (see _signal_group)
        return True
    return False


def _live_members(pgid: int) -> list[int] | None:
    """The live (not zombie) processes of the group; None where /proc cannot tell."""
    proc = Path("/proc")
    if not proc.is_dir() or not hasattr(os, "pidfd_open"):
        return None
    members = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp
                members.append(int(entry.name))
    return members


READY_CLIENTS = (CLIENTS["ipv4"], CLIENTS["ipv6"])


# connect_ex's answer for a non-blocking connect under way (POSIX; Winsock's WSAEWOULDBLOCK)
IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, 10035}


def _connects(port: int, wait: float) -> bool:
    """Does a loopback client connect within ``wait``? Both clients try at once: on Windows
    a refused loopback connect takes about 2 s (SYN retries), so one address tried after
    the other would spend most of the readiness deadline on the wrong family."""
    opened: list[socket.socket] = []
    pending: list[socket.socket] = []
    try:
        for client in READY_CLIENTS:
            try:
                sock = socket.socket(client_socket_family(client), socket.SOCK_STREAM)
            except OSError:  # no such family here
                continue
            opened.append(sock)
            sock.setblocking(False)
            started = sock.connect_ex((client.address, port))
            if started == 0:
                return True
            if started in IN_PROGRESS:
                pending.append(sock)
            # else it failed at once (no ::1 here: EADDRNOTAVAIL), and SO_ERROR, read
            # later, would be 0: such a socket must not count as connected
        end = time.monotonic() + wait
        while pending and (remaining := end - time.monotonic()) > 0:
            # Windows reports a failed connect in the exception set, POSIX as writable
            _, writable, failed = select.select([], pending, pending, remaining)
            for sock in set(writable) | set(failed):
                if sock in writable and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    return True
                pending.remove(sock)
        return False
    finally:
        for sock in opened:
            sock.close()


def wait_ready(process: subprocess.Popen, port: int, deadline: float) -> str:
    """ok once a loopback client connects, or once the listing tool shows the port
    listening on an address no loopback client can reach (IPv6-only with IPv6 off)."""
    end = time.monotonic() + deadline
    next_listing = time.monotonic() + LISTING_EVERY
    while time.monotonic() < end:
        if process.poll() is not None:
            return "start-error"
        if _connects(port, min(LISTING_EVERY, max(end - time.monotonic(), 0.0))):
            return "ok"
        if time.monotonic() >= next_listing:
            if listeners(port):
                return "ok"
            next_listing = time.monotonic() + LISTING_EVERY
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=POLL)  # returns at once if the subject dies
    return "timeout"


def probe(port: int, client: str, http: bool) -> str:
    try:
        with socket.socket(client_socket_family(CLIENTS[client]), socket.SOCK_STREAM) as sock:
            sock.settimeout(PROBE_DEADLINE)
            sock.connect((CLIENTS[client].address, port))
            if not http:
                return Outcome.OK
            sock.sendall(HTTP_REQUEST)
            return Outcome.OK if sock.recv(64).startswith(b"HTTP/") else "no-http-answer"
    except OSError as exc:
        outcome = connect_outcome(exc)
        return f"error:{describe(exc)[0]}" if outcome == Outcome.CONNECT_ERROR else outcome


def probe_clients(port: int, http: bool) -> dict[str, str]:
    return {client: probe(port, client, http) for client in CLIENTS}


def run_subject(command: list[str], port: int, http: bool, ready_deadline: float = READY_DEADLINE) -> Run:
    """Start, wait, probe the three clients, list, and always kill."""
    # Windows: the logs stay open in the dying tree for a moment after taskkill (WinError 32);
    # a folder left behind in the temp dir is no reason to lose the observation
    with tempfile.TemporaryDirectory(prefix="dualstack-subject-", ignore_cleanup_errors=True) as logs:
        process = start(command, Path(logs) / "stdout", errors=Path(logs) / "stderr", cwd=logs)
        try:
            state = wait_ready(process, port, ready_deadline)
            run = Run(outcome=state)
            if state == "ok":
                ready = listeners(port)
                run.clients = probe_clients(port, http)
                if any(v in DYING for v in run.clients.values()):
                    # a reset or a silent HTTP server: it may be dying; see (bounded) whether it exits
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=SETTLE_DEADLINE)
                listed = listeners(port)
                if listed and ready is not None and len(listed) > len(ready):
                    # a second socket began listening while we probed (asyncio listens on its
                    # sockets one by one): the server was still starting, so ask once more
                    run.clients = probe_clients(port, http)
                # the port is drawn at random: write it as P so runs compare
                run.listeners = [re.sub(rf"([.:]){port}\b", r"\1P", line) for line in listed or []]
                # a server that bound, then failed to finish starting (a second listen() that
                # collides, say), is gone by now: its clients' answers are not the server's
                if process.poll() is not None or listed == []:
                    run.outcome, run.clients = "start-error", {}
                    run.notes = ["stopped listening right after it started"]
            elif state == "start-error":
                run.notes = [f"exit status {process.poll()}"]
            else:
                run.notes = [f"not listening after {ready_deadline:.0f} s"]
            if run.outcome != "ok":
                run.notes += (Path(logs) / "stderr").read_text(errors="replace").strip().splitlines()[-1:]
            return run
        finally:
            kill(process)
