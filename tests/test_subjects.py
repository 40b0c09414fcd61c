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
