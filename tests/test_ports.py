"""Ports for the cells that bind one port in both families: each worker its own block,
and never a port that something else holds or that the OS bars."""

import errno
import socket
from pathlib import Path

import pytest

from conformance import ports


def test_every_worker_draws_from_its_own_block(monkeypatch):
    blocks = []
    for index in range(4):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{index}")
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
        blocks.append(set(ports.block()))
    assert all(min(b) >= ports.pool().start and max(b) < ports.pool().stop for b in blocks)
    assert sum(len(b) for b in blocks) == len(set().union(*blocks))  # disjoint


def test_a_port_a_stranger_holds_is_passed_over(monkeypatch):
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        taken = stranger.getsockname()[1]
        assert ports.held_elsewhere(taken, "tcp")
        with ports.free() as spare:  # a port nobody holds, for the second draw
            pass
        draws = iter([taken, spare])
        monkeypatch.setattr(ports, "pick", lambda: next(draws))
        with ports.free() as port:
            assert port == spare


@pytest.mark.parametrize("code", [errno.EADDRINUSE, errno.EACCES], ids=errno.errorcode.get)
def test_a_port_the_os_bars_counts_as_held(monkeypatch, code):
    class Barred(socket.socket):
        def bind(self, address):
            raise OSError(code, "barred")
    monkeypatch.setattr(ports.socket, "socket", Barred)
    assert ports.held_elsewhere(ports.pool().start, "udp")


def test_any_other_bind_error_does_not(monkeypatch):
    class Odd(socket.socket):
        def bind(self, address):
            raise OSError(errno.EINVAL, "odd")
    monkeypatch.setattr(ports.socket, "socket", Odd)
    assert not ports.held_elsewhere(ports.pool().start, "udp")


# --- the ephemeral range, read from the OS and avoided ----------------------------------
# Outputs as each OS prints them: /proc/sys/net/ipv4/ip_local_port_range (ip(7)),
# `sysctl -n NAME NAME` (one value a line), `netsh int ipv4 show dynamicport tcp` (KB929851).

LINUX_PROC = "32768\t60999\n"
FREEBSD_SYSCTL = "10000\n65535\n"
OPENBSD_SYSCTL = "1024\n49151\n"
MACOS_SYSCTL = "49152\n65535\n"
NETSH = """
Protocol tcp Dynamic Port Range
---------------------------------
Start Port      : 49152
Number of Ports : 16384
"""
NETSH_WIDENED = NETSH.replace("49152", "10000").replace("16384", "55536")


@pytest.mark.parametrize("text, first, last", [(LINUX_PROC, 32768, 60999), (FREEBSD_SYSCTL, 10000, 65535),
                                               (OPENBSD_SYSCTL, 1024, 49151), (MACOS_SYSCTL, 49152, 65535)])
def test_the_range_reads_as_first_and_last(text, first, last):
    assert ports.parse_bounds(text) == range(first, last + 1)


def test_netsh_gives_a_start_and_a_count():
    assert ports.parse_netsh(NETSH) == range(49152, 65536)
    assert ports.parse_netsh(NETSH_WIDENED) == range(10000, 65536)


@pytest.mark.parametrize("text", ["", "sysctl: unknown oid 'net.inet.ip.portrange.first'", "70000\n80000", "5\n"])
def test_what_is_not_a_range_is_none(text):
    assert ports.parse_bounds(text) is None and ports.parse_netsh(text) is None


@pytest.mark.parametrize("ephemeral", [range(32768, 61000), range(49152, 65536), range(10000, 65536),
                                       range(1024, 49152), range(10000, 65536), range(15000, 25000)])
def test_no_port_drawn_is_ephemeral(ephemeral):
    chosen = ports.usable(ephemeral)
    assert len(chosen) >= 1000
    assert not set(chosen) & set(ephemeral)
    assert chosen.start >= 1024 and chosen.stop <= 65536


def test_the_usual_ranges_keep_the_preferred_block():
    for os_name in ("linux", "darwin", "win32"):
        assert ports.usable(ports.DEFAULT_EPHEMERAL[os_name]) == ports.PREFERRED


def test_freebsd_and_openbsd_move_out_of_their_ranges():
    assert ports.usable(ports.DEFAULT_EPHEMERAL["freebsd"]) == range(1024, 10000)
    assert ports.usable(ports.DEFAULT_EPHEMERAL["openbsd"]) == range(49152, 65536)


@pytest.mark.parametrize("platform, command, output, expected", [
    ("freebsd14", ["sysctl", "-n", "net.inet.ip.portrange.first", "net.inet.ip.portrange.last"], FREEBSD_SYSCTL,
     range(10000, 65536)),
    ("openbsd7", ["sysctl", "-n", "net.inet.ip.portfirst", "net.inet.ip.portlast"], OPENBSD_SYSCTL,
     range(1024, 49152)),
    ("darwin", ["sysctl", "-n", "net.inet.ip.portrange.first", "net.inet.ip.portrange.last"], MACOS_SYSCTL,
     range(49152, 65536)),
    ("win32", ["netsh", "int", "ipv4", "show", "dynamicport", "tcp"], NETSH_WIDENED, range(10000, 65536)),
])
def test_each_os_is_asked_with_its_own_tool(monkeypatch, platform, command, output, expected):
    asked = []
    monkeypatch.setattr(ports, "_output", lambda c: asked.append(c) or output)
    assert ports.read_ephemeral(platform) == expected
    assert asked == [command]


def test_an_unreadable_range_falls_back_to_the_documented_default(monkeypatch):
    monkeypatch.setattr(ports, "_output", lambda c: "")
    monkeypatch.setattr(ports.sys, "platform", "freebsd14")
    ports.pool.cache_clear()
    try:
        assert ports.pool() == range(1024, 10000)
    finally:
        ports.pool.cache_clear()


@pytest.mark.skipif(not ports.sys.platform.startswith("linux"), reason="reads /proc")
def test_this_linux_machine_reports_its_range():
    first, last = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert ports.read_ephemeral(ports.sys.platform) == range(first, last + 1)
