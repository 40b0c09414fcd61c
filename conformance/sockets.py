"""The thin layer of real socket calls that every family's observation stands on.

Everything here talks to the kernel and nothing else: no expectations, no verdicts.
Only loopback is ever a destination (127.0.0.1, ::1, ::ffff:127.0.0.1); wildcard
addresses are only bound, never sent to.

Waiting: TCP refusals on loopback are immediate. A UDP datagram that is not delivered
produces no error, so "not delivered" is decided by a positive control: after the
probe, a datagram on a path known to reach the same socket is sent; loopback delivers
in order, so once the control is in, the probe has either arrived or never will. The
deadlines (conformance/vocabulary.py) are upper bounds for a broken path, not waits on
the normal one.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from conformance.errnames import describe
from conformance.observation import Observation
from conformance.vocabulary import UDP_DEADLINE, Client, Outcome, is_ipv6, v6only

T = TypeVar("T")
PORT_RETRIES = 5
SOCK_TYPES = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}
FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6}
# A port someone else holds answers one of these at bind: EADDRINUSE, or on Windows
# WSAEACCES (a port in an excluded range, or held with SO_EXCLUSIVEADDRUSE).
PORT_TAKEN = {errno.EADDRINUSE, errno.EACCES, 10013, 10048}
# Where a control datagram for a socket bound to an address can come from: tried in
# order, the first that can be sent is used. Wildcards are reached through loopback.
CONTROL_ROUTES = {
    "::": [(socket.AF_INET6, "::1"), (socket.AF_INET, "127.0.0.1")],
    "::1": [(socket.AF_INET6, "::1")],
    "::ffff:127.0.0.1": [(socket.AF_INET, "127.0.0.1")],
    "0.0.0.0": [(socket.AF_INET, "127.0.0.1")],
    "127.0.0.1": [(socket.AF_INET, "127.0.0.1")],
}


class Failure(Exception):
    """A call failed; carries what the observation records about it."""

    def __init__(self, outcome: str, stage: str, exc: OSError | None = None):
        super().__init__(outcome, stage, exc)
        self.outcome, self.stage, self.exc = outcome, stage, exc

    def apply(self, obs: Observation) -> Observation:
        obs.outcome, obs.stage = self.outcome, self.stage
        if self.exc is not None:
            obs.errno, obs.errno_code = describe(self.exc)
        return obs


class PortStolen(Exception):
    """A connection reached some other socket on our port number: retry on another port."""


def port_taken(exc: OSError) -> bool:
    """Does this bind error mean another socket holds the port?"""
    return exc.errno in PORT_TAKEN or getattr(exc, "winerror", None) in PORT_TAKEN


def family_of(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if is_ipv6(address) else socket.AF_INET


def client_socket_family(client: Client) -> socket.AddressFamily:
    return FAMILIES[client.socket_family]


def host_of(sockaddr: Any) -> str:
    return str(sockaddr[0]).split("%")[0]


def open_socket(stack: contextlib.ExitStack, family: int, proto: str) -> socket.socket:
    try:
        sock = socket.socket(family, SOCK_TYPES[proto])
    except OSError as exc:
        raise Failure(Outcome.UNSUPPORTED, "socket", exc) from exc
    return stack.enter_context(sock)


def read_v6only(sock: socket.socket) -> int | None:
    if sock.family != socket.AF_INET6:
        return None
    try:
        return int(bool(sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)))
    except OSError:
        return None


def set_v6only(sock: socket.socket, setting: str | None, stage: str = "setsockopt") -> None:
    """Apply a catalogue v6only setting ("default" leaves the OS default alone)."""
    value = v6only(setting).value_set
    if value is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, value)
    except OSError as exc:
        raise Failure(Outcome.OPTION_ERROR, stage, exc) from exc


def call(stage: str, outcome: str, fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except OSError as exc:
        raise Failure(outcome, stage, exc) from exc


def connect_outcome(exc: OSError) -> Outcome:
    if isinstance(exc, ConnectionRefusedError):
        return Outcome.REFUSED
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return Outcome.TIMEOUT
    name, _ = describe(exc)
    return Outcome.UNREACHABLE if name in ("ENETUNREACH", "EHOSTUNREACH") else Outcome.CONNECT_ERROR


def on_a_port_of_our_own(attempt: Callable[[], Observation], tries: int) -> Observation:
    """Run a cell again on another port while some other socket answers on ours."""
    for _ in range(tries):
        try:
            return attempt()
        except PortStolen:
            continue
    return Observation(outcome=Outcome.TIMEOUT, stage="connect",
                       notes=[f"another socket kept answering on our port after {tries} tries"])


def send_control(stack: contextlib.ExitStack, routes: Sequence[tuple[int, str]], port: int, payload: bytes) -> bool:
    for family, host in routes:
        try:
            sender = stack.enter_context(socket.socket(family, socket.SOCK_DGRAM))
            sender.sendto(payload, (host, port))
            return True
        except OSError:
            continue
    return False


def receive_until_control(sock: socket.socket, probe: bytes, control: bytes, control_sent: bool) -> Any:
    """The sender address of ``probe`` if it reached ``sock``, else None."""
    found = None
    deadline = time.monotonic() + UDP_DEADLINE
    seen_control = False
    while not seen_control:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining if control_sent else min(remaining, 0.05))
        try:
            data, addr = sock.recvfrom(2048)
        except TimeoutError:
            break
        except ConnectionResetError:  # Windows reports an earlier ICMP unreachable here
            continue
        if data == probe:
            found = addr
        seen_control = data == control
    sock.setblocking(False)
    with contextlib.suppress(OSError):  # anything reordered behind the control
        while found is None:
            data, addr = sock.recvfrom(2048)
            if data == probe:
                found = addr
    return found

