"""The socket layer's reading of errors, with simulated platform answers where the OS
cannot run here (Windows' Winsock codes)."""

from __future__ import annotations

import errno
import functools
import socket

import pytest

from conformance import sockets
from conformance.errnames import describe
from conformance.families import options
from conformance.machine import measure
from conformance.scenario import Scenario
from conformance.sockets import port_taken

WSAEACCES, WSAEADDRINUSE, WSAEAFNOSUPPORT = 10013, 10048, 10047


class WinError(OSError):
    """An OSError as CPython raises it for a Winsock error: winerror set."""

    def __init__(self, winerror: int):
        super().__init__(winerror, "simulated")
        self.winerror = winerror


@pytest.mark.parametrize("exc", [OSError(errno.EADDRINUSE, "in use"), WinError(WSAEADDRINUSE), WinError(WSAEACCES)],
                         ids=["EADDRINUSE", "WSAEADDRINUSE", "WSAEACCES"])
def test_a_port_someone_holds_is_taken_whatever_the_os_calls_it(exc):
    # WSAEACCES: an excluded port range, or a holder with SO_EXCLUSIVEADDRUSE
    assert port_taken(exc)


def test_other_bind_errors_are_not_a_taken_port():
    assert not port_taken(OSError(errno.EADDRNOTAVAIL, "not here"))
    assert not port_taken(OSError(errno.EINVAL, "invalid"))


@pytest.mark.parametrize("exc", [OSError(errno.EAFNOSUPPORT, "no AF_INET6"), WinError(WSAEAFNOSUPPORT)],
                         ids=["posix", "winsock"])
def test_create_server_without_af_inet6_is_unsupported_not_a_bind_error(monkeypatch, exc):
    def refuse(*args, **kwargs):
        raise exc

    monkeypatch.setattr(socket, "create_server", refuse)
    # Windows' errno table names the Winsock codes (WSAE...); this machine's may not
    windows_names = {**errno.errorcode, WSAEAFNOSUPPORT: "WSAEAFNOSUPPORT"}
    for module in (options, sockets):
        monkeypatch.setattr(module, "describe", functools.partial(describe, errorcode=windows_names))
    scenario = Scenario.of("options", proto="tcp", check="create-server", dualstack_ipv6="false")
    observation = options.observe(scenario, measure(), None)
    assert (observation.outcome, observation.errno) == ("unsupported", "EAFNOSUPPORT")
