"""Ports for the cells that bind one port in both families: each worker its own block,
and never a port that something else holds or that the OS bars."""

import errno
import socket

import pytest

from conformance import ports


def test_every_worker_draws_from_its_own_block(monkeypatch):
    blocks = []
    for index in range(4):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{index}")
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
        blocks.append(set(ports.block()))
    assert all(min(b) >= ports.FIRST and max(b) < ports.LAST for b in blocks)
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
    assert ports.held_elsewhere(ports.FIRST, "udp")


def test_any_other_bind_error_does_not(monkeypatch):
    class Odd(socket.socket):
        def bind(self, address):
            raise OSError(errno.EINVAL, "odd")
    monkeypatch.setattr(ports.socket, "socket", Odd)
    assert not ports.held_elsewhere(ports.FIRST, "udp")
