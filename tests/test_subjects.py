"""Server subjects: the runner kills what it starts on every path, and the model reads
each server's documented behaviour against the platform's facts."""

import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conformance import subjects
from conformance.families import expect
from conformance.families.subjects import scenarios as subjects_scenarios
from conformance.platform_model import load_platform
from conformance.ports import free
from conformance.scenario import Scenario
from conformance.subjects import command_for, run_subject
from tests.conftest import ROOT, simulated

LINUX = platform.system() == "Linux"


def subject(server, setup):
    return Scenario.of("subjects", proto="tcp", server=server, setup=setup)


def clients(server, setup, os_name, **facts):
    e = expect(subject(server, setup), load_platform(os_name), simulated(os_name, **facts))
    return e.fields.get("clients"), e


BINDV6ONLY = dict(knobs={"net.ipv6.bindv6only": "1"}, default_v6only={"tcp": 1, "udp": 1})


def test_every_subject_has_a_source():
    for s in subjects_scenarios():
        e = expect(s, load_platform("linux"), simulated("linux"))
        assert e.reasons and e.reasons[0].source.startswith("https://")


def test_go_ignores_bindv6only_but_raw_sockets_do_not():
    go, _ = clients("go", 'net.Listen("tcp", "[::]:P")', "linux", **BINDV6ONLY)
    assert go["ipv4"] == "ok" and go["mapped"] == "unreachable"  # the mapped client itself is v6-only now
    workers, _ = clients("uvicorn", "--host :: --workers 2", "linux", **BINDV6ONLY)
    assert workers["ipv4"] == "refused"
    workers, _ = clients("uvicorn", "--host :: --workers 2", "linux")
    assert workers == {"ipv4": "ok", "mapped": "ok", "ipv6": "ok"}


def test_windows_default_decides_for_servers_that_leave_the_option_alone():
    gunicorn, _ = clients("socketserver", "TCPServer, address_family = AF_INET6, ('::', P)", "windows")
    assert gunicorn["ipv4"] == "refused" and "mapped" not in gunicorn  # Windows' errno is not documented
    both, e = clients("hypercorn", "--bind 0.0.0.0:P --bind [::]:P", "windows")
    assert e.outcome == ("ok",) and both["ipv4"] == "ok"
    _, e = clients("hypercorn", "--bind 0.0.0.0:P --bind [::]:P", "linux")
    assert e.outcome == ("start-error",)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower() \
        if LINUX else True


def test_a_subject_that_never_listens_times_out_and_is_killed(tmp_path):
    pidfile = tmp_path / "pid"
    command = [sys.executable, "-c", f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); "
                                     "time.sleep(600)"]
    with free() as port:
        started = time.monotonic()
        run = run_subject(command, port, http=False, ready_deadline=1.0)
    assert run.outcome == "timeout" and time.monotonic() - started < 10
    assert not alive(int(pidfile.read_text()))


SERVER_WITH_A_CHILD = """
import socket, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[2], "w").write(str(child.pid))
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    server.accept()[0].close()
"""


def test_a_subject_and_the_children_it_forks_are_all_killed(tmp_path):
    script, pidfile = tmp_path / "server.py", tmp_path / "child.pid"
    script.write_text(SERVER_WITH_A_CHILD)
    with free() as port:
        run = run_subject([sys.executable, str(script), str(port), str(pidfile)], port, http=False)
        assert run.outcome == "ok", run.notes
        assert run.clients["ipv4"] == "ok" and run.clients["ipv6"] == "refused"
        assert not alive(int(pidfile.read_text()))  # the server forked it; it went with the server
        with socket.socket() as probe:  # and nothing holds the port (TIME_WAIT of a probe aside)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
            probe.listen()


def test_a_subject_that_exits_is_a_start_error():
    with free() as port:
        run = run_subject([sys.executable, "-c", "import sys; sys.exit('no such thing')"], port, http=False)
    assert run.outcome == "start-error" and "no such thing" in run.notes[-1]


@pytest.mark.skipif(not LINUX or shutil.which("ss") is None,
                    reason="binds 127.0.0.2, which only Linux has without an alias, and lists with ss")
def test_a_subject_listening_where_no_client_reaches_is_found_by_the_listing_tool():
    # as an IPv6-only server is when IPv6 is off: listening, and no loopback client gets in
    script = ("import socket, sys, threading\n"
              "server = socket.create_server(('127.0.0.2', int(sys.argv[1])))\n"
              "threading.Event().wait()\n")
    with free() as port:
        run = run_subject([sys.executable, "-c", script, str(port)], port, http=False, ready_deadline=5.0)
    assert run.outcome == "ok", run.notes
    assert run.clients == {"ipv4": "refused", "mapped": "refused", "ipv6": "refused"}
    assert run.listeners == ["127.0.0.2:P"]


HAS_SS = LINUX and shutil.which("ss") is not None


@pytest.mark.skipif(not HAS_SS, reason="reads ss (iproute2: apt-get install iproute2)")
@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_the_listing_tool_shows_a_real_socket_on_the_port_with_its_v6only(proto):
    with free() as port, socket.socket(socket.AF_INET6, socket.SOCK_STREAM if proto == "tcp" else
                                       socket.SOCK_DGRAM) as server:
        server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        server.bind(("::", port))
        if proto == "tcp":
            server.listen()
        assert subjects.listeners(port, proto) == [f"[::]:{port} v6only:1"]
        assert subjects.listeners(port, "udp" if proto == "tcp" else "tcp") == []  # the other protocol's table


def test_a_server_started_has_its_environment_its_folder_and_one_file_for_both_streams(tmp_path):
    script = "import os, sys; print(os.environ['PORT'], os.getcwd()); sys.exit('and on stderr')"
    process = subjects.start([sys.executable, "-c", script], tmp_path / "output", cwd=tmp_path, env={"PORT": "8"})
    try:
        process.wait(timeout=30)
    finally:
        subjects.kill(process)
    assert (tmp_path / "output").read_text().splitlines() == [f"8 {tmp_path}", "and on stderr"]


def test_missing_tools_are_named():
    from conformance.subjects import Unavailable
    with pytest.raises(Unavailable, match="no_such_package is not installed"):
        command_for(["{python}", "-m", "x"], 1, ["no_such_package"])


def marked(mark: str) -> set[int]:
    """Live processes whose environment carries the mark (Linux): the run and all it started."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if f"DUALSTACK_TEST_MARK={mark}".encode() in environ and state != "Z":
                found.add(int(entry.name))
    return found


def subjects_of(mark: str) -> set[int]:
    return {pid for pid in marked(mark)
            if b"conformance.subjects" in Path(f"/proc/{pid}/cmdline").read_bytes()}


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="looks for leftover processes in /proc")
def test_ctrl_c_leaves_no_server_behind(tmp_path):
    mark = uuid.uuid4().hex
    env = dict(os.environ, DUALSTACK_TEST_MARK=mark)
    run = subprocess.Popen([sys.executable, "-m", "conformance.cli", "run", "--out", str(tmp_path),
                            "--cells", "subjects/tcp/server=asyncio*",
                            "--", "-q"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True,
                           # a shell's background job ignores SIGINT, and children inherit that
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not subjects_of(mark) and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.02)  # waiting for the first server to start; bounded by the deadline
        assert subjects_of(mark), "no subject started"
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends to the foreground group
        run.wait(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode != 0
    assert not marked(mark)  # nothing the run started is left


# --- code paths of other platforms, run here on simulated facts ----------------------------

POSIX_ONLY = pytest.mark.skipif(os.name == "nt", reason="a shell script as the fake go / POSIX signals and killpg")


@POSIX_ONLY
def test_a_failed_go_build_is_a_harness_error_not_a_skip(monkeypatch, tmp_path):
    """A machine with Go whose build fails has not 'no Go': BuildFailed, which the caller
    records as an error, never as Unavailable (a skip)."""
    fake_go = tmp_path / "go"
    fake_go.write_text("#!/bin/sh\necho 'listen.go:1: syntax error' >&2\nexit 1\n")
    fake_go.chmod(0o755)
    monkeypatch.setattr(subjects.shutil, "which", lambda tool: str(fake_go) if tool == "go" else None)
    monkeypatch.setattr(subjects, "scratch_folder", lambda name: tmp_path)
    with pytest.raises(subjects.BuildFailed, match="syntax error") as failed:
        subjects.go_binary()
    assert not isinstance(failed.value, subjects.Unavailable)


class Waiting:
    """A subject that is running: readiness is up to the connects."""

    def poll(self):
        return None

    def wait(self, timeout):
        raise subprocess.TimeoutExpired("subject", timeout)


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not LINUX or not ipv6_loopback(), reason="stalls 127.0.0.1 with a full accept queue (Linux) "
                                                               "and needs ::1")
def test_readiness_does_not_wait_on_one_address_before_trying_the_other():
    """On Windows a refused loopback connect takes ~2 s; here 127.0.0.1 stalls the same way
    (its accept queue is full, so SYNs go unanswered) while the server answers on ::1. The
    readiness check must see ::1 within its deadline, not after giving 127.0.0.1 its own."""
    with free() as port, socket.socket() as stalled, socket.socket(socket.AF_INET6) as server:
        stalled.bind(("127.0.0.1", port))
        stalled.listen(0)
        queued = [socket.socket() for _ in range(3)]
        try:
            for client in queued:
                client.setblocking(False)
                client.connect_ex(("127.0.0.1", port))
            server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            server.bind(("::1", port))
            server.listen()
            started = time.monotonic()
            state = subjects.wait_ready(Waiting(), port, deadline=2.0)
            took = time.monotonic() - started
        finally:
            for client in queued:
                client.close()
    assert state == "ok"
    assert took < 2.0 + 1.0  # the deadline holds (before: 5 s on 127.0.0.1 first)


def exited_process() -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process


def test_windows_kill_runs_taskkill_even_when_the_launcher_has_exited(monkeypatch):
    """uvicorn's workers outlive a launcher that exited: the tree is killed from its PID."""
    process = exited_process()
    ran = []
    monkeypatch.setattr(subjects, "WINDOWS", True)
    monkeypatch.setattr(subjects.subprocess, "run", lambda command, **kw: ran.append(command))
    subjects.kill(process)
    assert ran == [["taskkill", "/F", "/T", "/PID", str(process.pid)]]


@POSIX_ONLY
def test_macos_eperm_for_a_group_of_zombies_means_the_group_is_gone(monkeypatch):
    """Darwin answers killpg with EPERM once only zombies are left in the group."""
    process = exited_process()
    sent = []

    def killpg(pgid, sig):
        sent.append(sig)
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(subjects.os, "killpg", killpg)
    monkeypatch.setattr(subjects, "_live_members", lambda pgid: None)  # no /proc, as on macOS
    subjects.kill(process)
    assert sent == [signal.SIGTERM, 0]  # TERM, then the group is seen gone: no KILL needed


@POSIX_ONLY
def test_eperm_for_a_live_subject_is_still_an_error(monkeypatch):
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        monkeypatch.setattr(subjects.os, "killpg", lambda pgid, sig: (_ for _ in ()).throw(PermissionError(1, "no")))
        with pytest.raises(PermissionError):
            subjects.kill(process)
    finally:
        process.kill()
        process.wait()


def test_logs_still_held_after_the_kill_do_not_lose_the_observation(monkeypatch, tmp_path):
    """Windows: the dying tree still holds stdout/stderr when the folder is removed
    (WinError 32, a PermissionError); the run is returned and the folder left behind."""
    real_unlink = os.unlink

    def held(path, *args, **kwargs):
        if os.path.basename(path) in ("stdout", "stderr"):
            raise PermissionError(13, "The process cannot access the file because it is being used by another process")
        return real_unlink(path, *args, **kwargs)
    monkeypatch.setattr(subjects.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(os, "unlink", held)
    with free() as port:
        run = run_subject([sys.executable, "-c", "import sys; sys.exit('gone')"], port, http=False)
    assert run.outcome == "start-error"
