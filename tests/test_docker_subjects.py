"""The Docker claim's record writer: what a loopback client gets from a published port,
and a record that says what the daemon had, or no record at all."""

import shutil
import socket
import subprocess
import sys
import threading

import pytest

from conformance.subjects import docker
from matrix import merge, record


def serving(behaviour):
    """A loopback server on a free port that treats each connection with ``behaviour``."""
    server = socket.create_server(("127.0.0.1", 0))

    def loop():
        with server:
            conn, _ = server.accept()
            with conn:
                behaviour(conn)
    threading.Thread(target=loop, daemon=True).start()
    return server.getsockname()[1]


def test_only_the_servers_answer_is_ok():
    port = serving(lambda conn: conn.sendall(docker.ANSWER))
    assert docker.answer(socket.AF_INET, "127.0.0.1", port) == "ok"


def test_a_proxy_that_accepts_and_closes_is_not_delivered():
    """docker-proxy accepts first and closes when the container does not answer."""
    port = serving(lambda conn: None)
    assert docker.answer(socket.AF_INET, "127.0.0.1", port) == "not-delivered"


def test_a_port_nobody_publishes_is_refused():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert docker.answer(socket.AF_INET, "127.0.0.1", port) == "refused"


class FakeDocker:
    def __init__(self, bridge_ipv6: str):
        self.bridge_ipv6 = bridge_ipv6

    def __call__(self, *args):
        if args[:2] == ("network", "inspect"):
            return self.bridge_ipv6
        if args[0] == "version":
            return "28.2.2"
        raise AssertionError(args)


def seen(server, publish, image):
    return {"ipv4": {"outcome": "ok" if publish == "127.0.0.1" else "refused"},
            "ipv6": {"outcome": "not-delivered" if publish == "::1" else "refused"}}


@pytest.mark.parametrize("setting, bridge", [("off", "false"), ("on", "true")])
def test_the_record_is_a_column_named_after_the_daemons_setting(monkeypatch, tmp_path, setting, bridge):
    monkeypatch.setattr(docker, "docker", FakeDocker(bridge))
    monkeypatch.setattr(docker, "observe", seen)
    assert docker.main(["--out", str(tmp_path), "--daemon-ipv6", setting]) == 0
    [path] = tmp_path.glob("*.json")
    data = record.load(path)
    assert data["platform"]["variant"] == f"docker-daemon-ipv6-{setting}"
    assert data["facts"]["knobs"]["docker.bridge.EnableIPv6"] == bridge
    assert len(data["results"]) == 8 and {r["verdict"] for r in data["results"]} == {"informational"}
    cell = next(r for r in data["results"] if r["id"] == "docker/tcp/server=::/publish=::1/client=ipv6")
    assert cell["observed"] == {"outcome": "not-delivered"}
    matrix = merge.merge(merge.load_runs([path]))
    assert [c["platform"]["variant"] for c in matrix["columns"]] == [f"docker-daemon-ipv6-{setting}"]


def test_a_daemon_that_is_not_as_the_job_set_it_up_writes_no_record(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(docker, "docker", FakeDocker("false"))
    monkeypatch.setattr(docker, "observe", seen)
    assert docker.main(["--out", str(tmp_path), "--daemon-ipv6", "on"]) == 1
    assert "has IPv6 off, not on" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_the_reproducer_runs_the_same_server():
    text = docker.reproducer("::", "::1", "ipv6", docker.IMAGE)
    assert "-p [::1]:8080:8000" in text and "socket.AF_INET6" in text and "('::1', 8080)" in text
    assert docker.SERVER in text  # whole, its newlines kept inside the shell quotes


def daemon_running() -> bool:
    """A Linux Docker daemon (Windows runners have one for Windows containers only)."""
    if not sys.platform.startswith("linux") or shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not daemon_running(), reason="needs a running Docker daemon (the workflow's docker job has one)")
def test_a_real_container_published_on_ipv4_loopback_answers_the_ipv4_client():
    observed = docker.observe("0.0.0.0", "127.0.0.1", docker.IMAGE)
    assert observed["ipv4"] == {"outcome": "ok"}
