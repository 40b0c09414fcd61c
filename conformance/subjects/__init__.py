"""Server subjects: real servers started as their users start them, probed from an
IPv4, an IPv4-mapped and an IPv6 client, then always killed.

A subject runs in its own process group (its own session on POSIX) so that it and any
workers it forks are killed together, on every path: a failed probe, a server that never
becomes ready, an interrupted run. Readiness is a bounded poll: connect attempts on
loopback, which answer at once, until one succeeds, the server exits, or the deadline.
"""

from __future__ import annotations

import contextlib
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
from dataclasses import dataclass, field
from pathlib import Path

from conformance.scratch import scratch_folder

HERE = Path(__file__).parent
# uvicorn with two workers takes a second or two; a broken subject hits this. A slower
# runtime (user-mode Linux traps every system call) sets a longer one (runtimes.toml).
READY_DEADLINE = float(os.environ.get("DUALSTACK_READY_DEADLINE", "10"))
PROBE_DEADLINE = 5.0
KILL_GRACE = 5.0
SETTLE_DEADLINE = 5.0
DYING = {"error:ECONNRESET", "error:EPIPE", "no-http-answer"}  # answers of a server on its way out
BUILD_TIMEOUT = 300.0
POLL = 0.05  # how often readiness is re-checked; each check is a connect that answers at once
LISTING_EVERY = 0.5  # how often the (slower) listing tool is asked instead
CLIENTS = {"ipv4": (socket.AF_INET, "127.0.0.1"), "mapped": (socket.AF_INET6, "::ffff:127.0.0.1"),
           "ipv6": (socket.AF_INET6, "::1")}
HTTP_REQUEST = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"


class Unavailable(Exception):
    """The subject's toolchain or package is not here; str() is the reason."""


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
                raise Unavailable(f"go build failed: {built.stderr.strip()[-300:]}")
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

def start(command: list[str], logs: Path) -> subprocess.Popen:
    kwargs = {"start_new_session": True} if os.name == "posix" else {
        "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=logs, env=env,
                                **kwargs)


def kill(process: subprocess.Popen) -> None:
    """The subject and everything it started: TERM, then KILL after a grace period;
    returns once every process of its group is gone (or a zombie waiting for init)."""
    if os.name == "posix":
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=KILL_GRACE)
            if _group_dies(process.pid, KILL_GRACE):
                break
    elif process.poll() is None:
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, timeout=30)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=KILL_GRACE)


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
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
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


def _connects(port: int) -> bool:
    for host in ("127.0.0.1", "::1"):
        try:
            with socket.create_connection((host, port), timeout=PROBE_DEADLINE):
                return True
        except OSError:
            continue
    return False


def wait_ready(process: subprocess.Popen, port: int, deadline: float) -> str:
    """ok once a loopback client connects, or once the listing tool shows the port
    listening on an address no loopback client can reach (IPv6-only with IPv6 off)."""
    end = time.monotonic() + deadline
    next_listing = time.monotonic() + LISTING_EVERY
    while time.monotonic() < end:
        if process.poll() is not None:
            return "start-error"
        if _connects(port):
            return "ok"
        if time.monotonic() >= next_listing:
            if listeners(port):
                return "ok"
            next_listing = time.monotonic() + LISTING_EVERY
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=POLL)  # returns at once if the subject dies
    return "timeout"


def probe(port: int, client: str, http: bool) -> str:
    family, host = CLIENTS[client]
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(PROBE_DEADLINE)
            sock.connect((host, port))
            if not http:
                return "ok"
            sock.sendall(HTTP_REQUEST)
            return "ok" if sock.recv(64).startswith(b"HTTP/") else "no-http-answer"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        from conformance.errnames import describe
        name = describe(exc)[0]
        return "unreachable" if name in ("ENETUNREACH", "EHOSTUNREACH") else f"error:{name}"


def listeners(port: int) -> list[str] | None:
    """What the platform's own listing tool shows for the port (None: no tool here)."""
    if sys.platform.startswith("linux") and shutil.which("ss"):
        command, pattern = ["ss", "-tlneH", f"sport = :{port}"], None
    elif sys.platform == "darwin" or sys.platform.startswith("freebsd"):
        command, pattern = ["netstat", "-an", "-p", "tcp"], re.compile(rf"[.:]{port}\s.*LISTEN")
    elif os.name == "nt":
        command, pattern = ["netstat", "-ano", "-p", "TCPv6"], re.compile(rf":{port}\s.*LISTENING")
    else:
        return None
    try:
        text = subprocess.run(command, capture_output=True, text=True, timeout=10).stdout
        if os.name == "nt":
            text += subprocess.run(["netstat", "-ano", "-p", "TCP"], capture_output=True, text=True,
                                   timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    if pattern is not None:
        return [line for line in lines if pattern.search(line)]
    # only LISTEN lines: where ss cannot ask the kernel over netlink (gVisor has no
    # NETLINK_SOCK_DIAG) it reads /proc/net/tcp and lists bound, unconnected sockets too
    return [_ss_summary(line) for line in lines if line.split()[0] == "LISTEN"]


def _ss_summary(line: str) -> str:
    """`ss -tlne` line -> its local address and v6only field: `*:8080 v6only:0`."""
    fields = line.split()
    local = fields[3] if len(fields) > 3 else line
    v6only = next((f for f in fields if f.startswith("v6only:")), "")
    return f"{local} {v6only}".strip()


def run_subject(command: list[str], port: int, http: bool, ready_deadline: float = READY_DEADLINE) -> Run:
    """Start, wait, probe the three clients, list, and always kill."""
    with tempfile.TemporaryDirectory(prefix="dualstack-subject-") as logs:
        process = start(command, Path(logs))
        try:
            state = wait_ready(process, port, ready_deadline)
            run = Run(outcome=state)
            if state == "ok":
                ready = listeners(port)
                run.clients = {client: probe(port, client, http) for client in CLIENTS}
                if any(v in DYING for v in run.clients.values()):
                    # a reset or a silent HTTP server: it may be dying; see (bounded) whether it exits
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=SETTLE_DEADLINE)
                listed = listeners(port)
                if listed and ready is not None and len(listed) > len(ready):
                    # a second socket began listening while we probed (asyncio listens on its
                    # sockets one by one): the server was still starting, so ask once more
                    run.clients = {client: probe(port, client, http) for client in CLIENTS}
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
