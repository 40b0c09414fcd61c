"""`dualstack check -- COMMAND`, on real servers and real loopback sockets: the answer,
the exit status, the JSON document, and that nothing it started outlives it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conformance import check
from conformance.check import answer, environments, result
from conformance.check.answer import Listener
from conformance.check.command import build_parser
from conformance.subjects import Unavailable, go_binary
from conformance.subjects.listings import listening
from matrix import record
from matrix.beliefs import recipes
from tests.conftest import ROOT, run_dualstack

PYTHON = sys.executable
HAS_SS = sys.platform.startswith("linux") and shutil.which("ss") is not None

# One IPv6 socket on [::]; argv: V6ONLY ("1", "0", or "default" to leave the option alone), PORT
IPV6_SERVER = """
import socket, sys
sock = socket.socket(socket.AF_INET6)
if sys.argv[1] != "default":
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(sys.argv[1]))
sock.bind(("::", int(sys.argv[2])))
sock.listen()
while True:
    sock.accept()[0].close()
"""

# The same for UDP, answering every datagram
UDP_SERVER = """
import socket, sys
sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(sys.argv[1]))
sock.bind(("::", int(sys.argv[2])))
while True:
    data, peer = sock.recvfrom(512)
    sock.sendto(data, peer)
"""

# Never listens: forks a child, writes both pids to argv[1], says it is booting, waits
NEVER_LISTENS = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open(sys.argv[1] + ".part", "w") as out:
    out.write(f"{os.getpid()} {child.pid}")
os.replace(sys.argv[1] + ".part", sys.argv[1])
print("booting, port", sys.argv[2], flush=True)
time.sleep(300)
"""


# Forks a worker that listens dual-stack (as gunicorn's workers do), writes both pids, waits
FORKS_A_WORKER = """
import os, subprocess, sys
worker = subprocess.Popen([sys.executable, "-c", "import socket, sys; "
                           "s = socket.create_server(('::', int(sys.argv[1])), family=socket.AF_INET6, dualstack_ipv6=True); "
                           "[s.accept()[0].close() for _ in iter(int, 1)]", sys.argv[2]])
with open(sys.argv[1] + ".part", "w") as out:
    out.write(f"{os.getpid()} {worker.pid}")
os.replace(sys.argv[1] + ".part", sys.argv[1])
worker.wait()
"""


@pytest.fixture
def script(tmp_path):
    def write(text: str) -> str:
        path = tmp_path / f"server{len(list(tmp_path.iterdir()))}.py"
        path.write_text(text)
        return str(path)
    return write


def checked_json(*args: str) -> tuple[subprocess.CompletedProcess, dict]:
    """`dualstack check --json - ...`; the document is validated against check-1."""
    done = run_dualstack("check", "--json", *args, timeout=120)
    data = json.loads(done.stdout)
    record.validate(data, "check-1", origin="dualstack check --json")
    return done, data


def alive(pid: int) -> bool:
    """Is the process there and not a zombie (a zombie is gone, just not yet reaped)?"""
    if os.name == "nt":
        listed = subprocess.run(["tasklist", "/FI", f"PID eq {pid}", "/NH"], capture_output=True, text=True)
        return str(pid) in listed.stdout.split()
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for_file(path: Path, process: subprocess.Popen, deadline: float = 30.0) -> str:
    """The file's text once it exists (written atomically), bounded by the deadline."""
    for _ in range(int(deadline / 0.05)):
        if path.exists():
            return path.read_text()
        assert process.poll() is None, process.communicate()
        try:
            process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass
    raise AssertionError(f"{path} not written in {deadline} s")


def variant_or_skip(name: str) -> None:
    from conformance.run import variant_unavailable

    reason = variant_unavailable(name)
    if reason is not None:
        pytest.skip(f"variant {name} cannot be made here: {reason} (Linux with user namespaces, or root)")


# --- the servers of the issue -----------------------------------------------------------

def test_python_http_server_on_any_address_is_reached_by_every_client():
    done, data = checked_json("--", PYTHON, "-m", "http.server", "--bind", "::", "{port}")
    assert done.returncode == 0, done.stderr
    (env,) = data["environments"]
    assert env["status"] == "checked" and env["name"] == "default"
    assert {name: c["outcome"] for name, c in env["clients"].items()} == {"ipv4": "ok", "mapped": "ok", "ipv6": "ok"}
    assert all(c["answer"].startswith("HTTP/") for c in env["clients"].values())
    if HAS_SS:
        assert env["listeners"] == [f"*:{env['port']} v6only:0"]
        assert env["shape"] == "dual-stack"
        assert env["means"].startswith("one dual-stack socket on [::] (v6only:0)")


def test_a_v6only_server_exits_1_naming_ipv4_refused_and_the_listener_v6only_1(script):
    server = script(IPV6_SERVER)
    done = run_dualstack("check", "--", PYTHON, server, "1", "{port}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"^  IPv4 +127\.0\.0\.1 +refused$", done.stdout, re.M), done.stdout
    assert re.search(r"^  IPv6 +::1 +reached it", done.stdout, re.M), done.stdout
    assert "IPv4 clients are refused" in done.stdout
    assert "fix:" in done.stdout and "IPV6_V6ONLY" in done.stdout
    assert done.stdout.rstrip().endswith("not reached: IPv4 in default")
    if HAS_SS:
        assert re.search(r"listens on: +\[::\]:\d+ v6only:1$", done.stdout, re.M), done.stdout


def test_expecting_only_ipv6_of_a_v6only_server_exits_0(script):
    done = run_dualstack("check", "--expect", "ipv6", "--", PYTHON, script(IPV6_SERVER), "1", "{port}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "refused" in done.stdout  # still shown: --expect changes the verdict, not what is seen


def test_a_udp_server_is_probed_with_datagrams(script):
    server = script(UDP_SERVER)
    done, data = checked_json("--udp", "--", PYTHON, server, "1", "{port}")
    assert done.returncode == 1
    clients = data["environments"][0]["clients"]
    assert clients["ipv4"]["outcome"] == "refused"
    assert clients["ipv6"] == {"address": "::1", "outcome": "ok", "error": None, "answer": "replied"}
    assert data["proto"] == "udp"
    done, data = checked_json("--udp", "--", PYTHON, server, "0", "{port}")
    assert done.returncode == 0, done.stdout


def go_listen() -> str:
    try:
        return str(go_binary())
    except Unavailable as exc:
        pytest.skip(f"{exc}: apt-get install golang-go (or put go on PATH)")


def test_go_net_listen_on_any_address_under_bindv6only_1_exits_0():
    """Go clears IPV6_V6ONLY itself (net/ipsock_posix.go), so the sysctl does not matter."""
    variant_or_skip("bindv6only=1")
    done, data = checked_json("--variant", "bindv6only=1", "--", go_listen(), "listen", "tcp", "[::]:{port}")
    assert done.returncode == 0, done.stderr
    (env,) = data["environments"]
    assert env["name"] == "bindv6only=1" and env["status"] == "checked"
    if HAS_SS:
        assert env["listeners"] == [f"*:{env['port']} v6only:0"]


@pytest.mark.parametrize("variant", ["disable_ipv6", "no-ipv6-loopback"])
def test_without_ipv6_loopback_a_server_is_waited_for_not_probed_too_early(script, variant):
    """Without ::1 the IPv6 readiness client fails at once (EADDRNOTAVAIL): that must not
    count as connected, or a server still starting is probed and found listening nowhere."""
    variant_or_skip(variant)
    slow_start = script("import socket, time\ntime.sleep(0.5)\n"
                        "s = socket.create_server(('0.0.0.0', int(__import__('sys').argv[1])))\n"
                        "while True:\n    s.accept()[0].close()\n")
    done, data = checked_json("--variant", variant, "--expect", "ipv4", "--", PYTHON, slow_start, "{port}")
    assert done.returncode == 0, done.stdout + done.stderr
    (env,) = data["environments"]
    assert env["clients"]["ipv4"]["outcome"] == "ok"
    if HAS_SS:
        assert env["listeners"] == [f"0.0.0.0:{env['port']}"]


def test_under_bindv6only_1_a_server_that_leaves_v6only_alone_refuses_ipv4(script):
    """The control for the Go test: the variant is really in effect."""
    variant_or_skip("bindv6only=1")
    done, data = checked_json("--variant", "bindv6only=1", "--", PYTHON, script(IPV6_SERVER), "default", "{port}")
    assert done.returncode == 1
    assert data["environments"][0]["clients"]["ipv4"]["outcome"] == "refused"


# --- never listening, missing, bad input ----------------------------------------------

def test_a_command_that_never_listens_exits_3_with_its_output_and_leaves_nothing_running(script, tmp_path):
    pids = tmp_path / "pids"
    done, data = checked_json("--timeout", "1", "--", PYTHON, script(NEVER_LISTENS), str(pids), "{port}")
    assert done.returncode == 3
    (env,) = data["environments"]
    assert env["status"] == "not-listening"
    assert env["reason"] == f"not listening on port {env['port']} after 1 s"
    assert env["output_tail"] == [f"booting, port {env['port']}"]
    assert not [pid for pid in map(int, pids.read_text().split()) if alive(pid)]


def test_a_server_and_the_worker_it_forked_are_both_ended_after_the_check(script, tmp_path):
    pids = tmp_path / "pids"
    done, data = checked_json("--", PYTHON, script(FORKS_A_WORKER), str(pids), "{port}")
    assert done.returncode == 0, data
    assert not [pid for pid in map(int, pids.read_text().split()) if alive(pid)]


def test_json_into_a_file_keeps_the_text_and_writes_a_valid_document(tmp_path):
    out = tmp_path / "check.json"
    done = run_dualstack("check", "--json", str(out), "--", PYTHON, "-m", "http.server", "--bind", "::", "{port}")
    assert done.returncode == 0
    assert done.stdout.startswith("command: ") and "result: ok" in done.stdout
    data = json.loads(out.read_text())
    record.validate(data, "check-1")
    assert data["exit_status"] == 0 and data["command"][-1] == "{port}"


def test_a_command_that_exits_before_listening_exits_3_with_its_last_lines():
    done = run_dualstack("check", "--", PYTHON, "-c", "import sys; print('no config file'); sys.exit(4)", "{port}")
    assert done.returncode == 3
    assert "exited with status 4 before it listened" in done.stdout
    assert "| no config file" in done.stdout


@pytest.mark.parametrize(("args", "says"), [
    (["--", "no-such-server-command", "{port}"], "cannot run 'no-such-server-command': no such command"),
    (["--", PYTHON, "-m", "http.server"], "put {port} where the command takes its port"),
    (["--variant", "bindv6only=2", "--", PYTHON, "{port}"], "unknown --variant 'bindv6only=2'; known: default,"),
    (["--runtime", "qemu", "--", PYTHON, "{port}"], "unknown --runtime 'qemu'; known: host"),
    (["--expect", "ipv5", "--", PYTHON, "{port}"], "--expect 'ipv5'"),
    (["--timeout", "0", "--", PYTHON, "{port}"], "--timeout 0"),
    (["--json", "/no/such/folder/out.json", "--", PYTHON, "{port}"], "--json /no/such/folder/out.json"),
    (["--bogus", "--", PYTHON, "{port}"], "unrecognized arguments: --bogus (the server command goes after --)"),
    ([PYTHON, "{port}"], "unrecognized arguments: "),
    (["--udp"], "give the server command after --"),
])
def test_bad_input_is_one_line_and_exit_2(args, says):
    done = run_dualstack("check", *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr


def test_port_env_lifts_the_port_rule_and_the_server_reads_port():
    command = [PYTHON, "-c", "import http.server, os; http.server.test(http.server.SimpleHTTPRequestHandler, "
               "http.server.ThreadingHTTPServer, port=int(os.environ['PORT']), bind='127.0.0.1')"]
    done = run_dualstack("check", "--port-env", "--expect", "ipv4", "--", *command)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^  IPv6 +::1 +refused$", done.stdout, re.M)


# --- Ctrl-C ------------------------------------------------------------------------

def interrupt_during_the_wait(script, tmp_path, *variant: str) -> None:
    pids = tmp_path / "pids"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    process = subprocess.Popen([PYTHON, "-m", "conformance.cli", "check", "--timeout", "120", *variant, "--",
                                PYTHON, script(NEVER_LISTENS), str(pids), "{port}"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        server = [int(p) for p in wait_for_file(pids, process).split()]
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == result.EXIT_INTERRUPTED, stderr
    assert stderr == "dualstack check: interrupted; the server and everything it started were ended\n"
    assert not [pid for pid in server if alive(pid)]


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to one process is a POSIX notion")
def test_interrupting_check_ends_the_server_and_what_it_forked(script, tmp_path):
    interrupt_during_the_wait(script, tmp_path)


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to one process is a POSIX notion")
def test_interrupting_check_ends_the_server_inside_a_variant(script, tmp_path):
    variant_or_skip("bindv6only=1")
    interrupt_during_the_wait(script, tmp_path, "--variant", "bindv6only=1")


# --- runtimes: the plug point -----------------------------------------------------------

class FakeRuntimes:
    """A stand-in for conformance/runtimes.py with its interface: one runtime that runs
    the check through `env` (a real command in between), one that is unavailable."""

    @staticmethod
    def names() -> list[str]:
        return ["through-env", "absent"]

    @staticmethod
    def unavailable(name: str) -> str | None:
        return "no absent runtime on this machine" if name == "absent" else None

    @staticmethod
    def command_inside(name: str, argv: list[str], writable) -> list[str]:
        return ["env", "DUALSTACK_RUNTIME=through-env", *argv]


@pytest.mark.skipif(shutil.which("env") is None, reason="needs env(1)")
def test_a_runtime_from_conformance_runtimes_wraps_the_check_or_is_skipped_with_its_reason(monkeypatch):
    monkeypatch.setattr(environments, "runtimes", FakeRuntimes)
    assert list(environments.known_runtimes()) == ["host", "through-env", "absent"]
    checked = check.check([PYTHON, "-m", "http.server", "--bind", "::", "{port}"], runtime="all")
    record.validate(checked.data, "check-1")
    envs = {env["name"]: env for env in checked.data["environments"]}
    assert envs["default"]["status"] == envs["through-env/default"]["status"] == "checked"
    assert envs["through-env/default"]["runtime"] == "through-env"
    assert envs["absent/default"]["status"] == "skipped"
    assert envs["absent/default"]["reason"] == "no absent runtime on this machine"
    assert checked.exit_status == 0
    assert "skipped: absent/default (no absent runtime on this machine)" in checked.text


def test_nothing_checked_is_not_a_pass(monkeypatch):
    monkeypatch.setattr(environments, "runtimes", FakeRuntimes)
    checked = check.check([PYTHON, "-m", "http.server", "{port}"], runtime="absent")
    assert checked.exit_status == result.EXIT_USAGE
    assert "nothing checked" in checked.text


# --- what it says -------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "listener"), [
    ("*:8080 v6only:0", Listener("::", 0)),  # ss, [::] dual-stack
    ("[::]:8080 v6only:1", Listener("::", 1)),
    ("0.0.0.0:8080", Listener("0.0.0.0", None)),
    ("[::1]:8080 v6only:1", Listener("::1", 1)),
    ("tcp46 0 0 *.8080 *.* LISTEN", Listener("::", 0)),  # macOS / FreeBSD netstat -an
    ("tcp6 0 0 *.8080 *.* LISTEN", Listener("::", 1)),
    ("tcp4 0 0 127.0.0.1.8080 *.* LISTEN", Listener("127.0.0.1", None)),
    ("TCP [::]:8080 [::]:0 LISTENING 4242", Listener("::", None)),  # Windows netstat -ano
    ("UDP 0.0.0.0:8080 *:* 4242", Listener("0.0.0.0", None)),
    # as conformance.subjects.listeners cuts them: protocol, address (and state)
    ("tcp46 *.8080 LISTEN", Listener("::", 0)),
    ("udp6 *.8080", Listener("::", 1)),
    ("tcp *.8080 LISTEN", Listener("0.0.0.0", None)),  # OpenBSD: tcp is IPv4, tcp6 IPv6
    ("TCP [::]:8080 LISTENING", Listener("::", None)),
    ("UDP [::1]:8080", Listener("::1", None)),
])
def test_listing_lines_of_every_tool_are_read(line, listener):
    assert answer.parse_listener(line) == listener


@pytest.mark.parametrize(("name", "platform", "port", "shape"), [
    ("macos-netstat-an.txt", "darwin", 8809, "dual-stack"),
    ("freebsd-netstat-na.txt", "freebsd14", 3080, "ipv6-only"),
    ("openbsd-netstat-a.txt", "openbsd7", 5556, "ipv4-only"),
    ("windows-netstat-ano-listening.txt", "win32", 443, "ipv4-only"),
])
def test_the_shape_of_each_oss_real_listing_as_the_server_runner_reads_it(name, platform, port, shape):
    text = (ROOT / "tests" / "fixtures" / "listings" / name).read_text()
    assert answer.shape(listening(text, port, platform)) == shape


@pytest.mark.parametrize(("lines", "shape"), [
    (["*:P v6only:0"], "dual-stack"),
    (["[::]:P v6only:1"], "ipv6-only"),
    (["TCP [::]:P [::]:0 LISTENING 1"], "ipv6"),
    (["0.0.0.0:P"], "ipv4-only"),
    (["0.0.0.0:P", "[::]:P v6only:1"], "two-sockets"),
    ([], "unknown"),
    (None, "unknown"),
])
def test_the_listeners_shape(lines, shape):
    assert answer.shape(lines) == shape


def test_every_recipe_a_fix_names_serves_both_families_in_the_report():
    """The fixes come from the report's Portable recipes: each one named is there, for
    TCP and UDP, and works on at least one observed column."""
    matrix = json.loads((ROOT / "reports" / "matrix.json").read_text())
    working = {(r["kind"], r["proto"], r["bind"], r["v6only"], r["reuse"]) for r in recipes(matrix) if r["works"]}
    named = [r for rule in answer.rules() for r in rule.get("recipes", [])]
    assert named
    for recipe in named:
        for proto in ("tcp", "udp"):
            assert (recipe["kind"], proto, recipe["bind"], recipe["v6only"], recipe["reuse"]) in working, recipe


def test_every_rule_has_a_meaning_and_a_fix_comes_with_recipes():
    for rule in answer.rules():
        assert rule["means"]
        assert bool(rule.get("fix")) == bool(rule.get("recipes")), rule
        assert set(rule) <= {"shape", "ipv4", "ipv6", "means", "fix", "recipes"}, rule


def test_the_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(record.schema("check-1"))


# --- the pytest fixture and the README ------------------------------------------------

FIXTURE_USER = """
import sys

def test_dual_stack(dualstack_check):
    checked = dualstack_check([sys.executable, "-m", "http.server", "--bind", "::", "{port}"])
    assert checked.exit_status == 0, checked.text

def test_ipv4_only_fails_with_the_answer(dualstack_check):
    checked = dualstack_check([sys.executable, "-m", "http.server", "--bind", "0.0.0.0", "{port}"])
    assert checked.exit_status == 0, checked.text
"""


@pytest.mark.slow  # a pytest of its own: its start-up is most of the time
def test_the_fixture_serves_a_projects_own_tests(tmp_path):
    (tmp_path / "test_server.py").write_text(FIXTURE_USER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-rf",
                           str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 1, done.stdout
    assert "1 failed, 1 passed" in done.stdout
    assert "IPv4-only socket: IPv6 clients are refused" in done.stdout


def test_the_fixture_plugin_costs_a_suite_that_does_not_use_it_nothing():
    from importlib.metadata import entry_points

    assert "conformance.pytest_dualstack" in {e.value for e in entry_points(group="pytest11")}
    loaded = subprocess.run([PYTHON, "-c", "import sys, conformance.pytest_dualstack as p; "
                             "print(sorted(m for m in sys.modules if m.startswith('conformance')))"],
                            capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "['conformance', 'conformance.pytest_dualstack']"


def test_every_check_command_the_readme_shows_parses():
    readme = (ROOT / "README.md").read_text()
    shown = re.findall(r"^\$ (dualstack check .*)$", readme, re.M)
    assert len(shown) >= 3
    for line in shown:
        words = line.split()[2:]
        own = words[: words.index("--")]
        build_parser().parse_args(own)
        assert "--port-env" in own or any("{port}" in w for w in words[words.index("--"):]), line


# --- the GitHub Action ------------------------------------------------------------------

def test_the_action_passes_only_options_dualstack_check_has():
    yaml = pytest.importorskip("yaml", reason="pip install pyyaml")
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    run = next(s["run"] for s in action["runs"]["steps"] if s.get("id") == "check")
    options = set(re.findall(r"(--[a-z-]+)", run.split("eval")[0]))
    known = {opt for a in build_parser()._actions for opt in a.option_strings}
    assert options and options <= known, options - known
    assert all(re.fullmatch(r"[0-9a-f]{40}", s["uses"].split("@")[1]) for s in action["runs"]["steps"] if "uses" in s)


def test_the_actions_workflow_runs_it_on_linux_macos_and_windows():
    yaml = pytest.importorskip("yaml", reason="pip install pyyaml")
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "action.yml").read_text())
    assert workflow["permissions"] == {"contents": "read"}
    (job,) = workflow["jobs"].values()
    assert {os_.split("-")[0] for os_ in job["strategy"]["matrix"]["os"]} == {"ubuntu", "macos", "windows"}
    used = [s for s in job["steps"] if s.get("uses") == "./"]
    assert len(used) >= 2 and any(s.get("continue-on-error") for s in used)
    assert all(re.fullmatch(r"[0-9a-f]{40}", s["uses"].split("@")[1]) for s in job["steps"]
               if s.get("uses", "./") != "./")


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["gvisor", "uml"])
def test_a_server_is_checked_inside_another_network_stack(runtime):
    from conformance import runtimes

    reason = runtimes.unavailable(runtime)
    if reason is not None:
        pytest.skip(f"{runtime} cannot start here: {reason}")
    done, data = checked_json("--runtime", runtime, "--", "python3", "-m", "http.server", "--bind", "::", "{port}")
    assert done.returncode == 0, done.stderr
    (env,) = data["environments"]
    assert (env["name"], env["status"], env["runtime"]) == (f"{runtime}/default", "checked", runtime)
    assert {name: c["outcome"] for name, c in env["clients"].items()} == {"ipv4": "ok", "mapped": "ok", "ipv6": "ok"}
