"""The thin layer of real socket calls: run one scenario on this machine.

Everything here talks to the kernel and nothing else: no expectations, no verdicts.
Only loopback is ever a destination (127.0.0.1, ::1, ::ffff:127.0.0.1); wildcard
addresses are only bound, never sent to.

Waiting: TCP refusals on loopback are immediate. A UDP datagram that is not delivered
produces no error, so "not delivered" is decided by a positive control: after the
probe, a datagram on a path known to reach the same socket is sent; loopback delivers
in order, so once the control is in, the probe has either arrived or never will. The
deadlines below are upper bounds for a broken path, not waits on the normal one.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
from typing import Callable

from conformance.errnames import describe
from conformance.observation import Observation
from conformance.scenario import Scenario, is_ipv6

# Upper bounds, reached only when something is broken. Windows answers a refused
# loopback connect only after its SYN retries (about 2 s), hence the margin.
CONNECT_DEADLINE = 5.0
UDP_DEADLINE = 1.0
PORT_RETRIES = 5

CLIENTS = {
    "ipv4": (socket.AF_INET, "127.0.0.1"),
    "mapped": (socket.AF_INET6, "::ffff:127.0.0.1"),
    "ipv6": (socket.AF_INET6, "::1"),
}
# Where a control datagram for a socket bound to an address can come from: tried in
# order, the first that can be sent is used. Wildcards are reached through loopback.
CONTROL_ROUTES = {
    "::": [(socket.AF_INET6, "::1"), (socket.AF_INET, "127.0.0.1")],
    "::1": [(socket.AF_INET6, "::1")],
    "::ffff:127.0.0.1": [(socket.AF_INET, "127.0.0.1")],
    "0.0.0.0": [(socket.AF_INET, "127.0.0.1")],
    "127.0.0.1": [(socket.AF_INET, "127.0.0.1")],
}
SOCK_TYPES = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}


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


def family_of(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if is_ipv6(address) else socket.AF_INET


def host_of(sockaddr) -> str:
    return sockaddr[0].split("%")[0]


def open_socket(stack: contextlib.ExitStack, family, proto: str) -> socket.socket:
    try:
        sock = socket.socket(family, SOCK_TYPES[proto])
    except OSError as exc:
        raise Failure("unsupported", "socket", exc) from exc
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
    if setting in (None, "default"):
        return
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(setting))
    except OSError as exc:
        raise Failure("option-error", stage, exc) from exc


def call(stage: str, outcome: str, fn: Callable, *args):
    try:
        return fn(*args)
    except OSError as exc:
        raise Failure(outcome, stage, exc) from exc


def connect_outcome(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timeout"
    name, _ = describe(exc)
    return "unreachable" if name in ("ENETUNREACH", "EHOSTUNREACH") else "connect-error"


# --- connect family ------------------------------------------------------------------

def observe_connect(scenario: Scenario) -> Observation:
    """Bind a server as the scenario says, connect one client, report what happened."""
    for _ in range(PORT_RETRIES):
        try:
            return _connect_once(scenario)
        except PortStolen:
            continue
    obs = Observation(outcome="timeout", stage="connect")
    obs.notes.append(f"another socket kept answering on our port after {PORT_RETRIES} tries")
    return obs


def _connect_once(scenario: Scenario) -> Observation:
    proto, bind = scenario.proto, scenario["bind"]
    client_kind = scenario["client"]
    obs = Observation(outcome="ok")
    with contextlib.ExitStack() as stack:
        try:
            server = open_socket(stack, family_of(bind), proto)
            set_v6only(server, scenario.get("v6only"))
            obs.v6only_set = read_v6only(server)
            call("bind", "bind-error", server.bind, (bind, 0))
            obs.effective_v6only = read_v6only(server)
            obs.server_name = host_of(server.getsockname())
            port = server.getsockname()[1]
            if proto == "tcp":
                call("listen", "bind-error", server.listen, 8)
            client_family, target = CLIENTS[client_kind]
            client = open_socket(stack, client_family, proto)
            set_v6only(client, scenario.get("client_v6only"), stage="client-setsockopt")
            obs.client_v6only = read_v6only(client)
            if proto == "tcp":
                _tcp_exchange(stack, server, client, (target, port), obs)
            else:
                _udp_exchange(stack, server, bind, client, (target, port), obs)
        except Failure as failure:
            failure.apply(obs)
    return obs


def _tcp_exchange(stack, server, client, target, obs: Observation) -> None:
    client.settimeout(CONNECT_DEADLINE)
    try:
        client.connect(target)
    except OSError as exc:
        raise Failure(connect_outcome(exc), "connect", exc) from exc
    # The handshake is complete when connect() returns on loopback, so the connection
    # is already queued on our listener, unless it went to another socket on this port.
    ready, _, _ = select.select([server], [], [], CONNECT_DEADLINE)
    if not ready:
        raise PortStolen()
    conn, peer = server.accept()
    stack.enter_context(conn)
    obs.peer = host_of(peer)
    obs.accepted_name = host_of(conn.getsockname())
    obs.client_name = host_of(client.getsockname())


def _send_control(stack, routes, port: int, payload: bytes) -> bool:
    for family, host in routes:
        try:
            sender = stack.enter_context(socket.socket(family, socket.SOCK_DGRAM))
            sender.sendto(payload, (host, port))
            return True
        except OSError:
            continue
    return False


def receive_until_control(sock: socket.socket, probe: bytes, control: bytes, control_sent: bool):
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
        except (TimeoutError, socket.timeout):
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


def _udp_exchange(stack, server, bind: str, client, target, obs: Observation) -> None:
    nonce = os.urandom(6).hex().encode()
    probe, control = b"probe-" + nonce, b"control-" + nonce
    try:
        client.sendto(probe, target)
    except OSError as exc:
        raise Failure("send-error", "send", exc) from exc
    obs.client_name = host_of(client.getsockname())
    sent = _send_control(stack, CONTROL_ROUTES[bind], target[1], control)
    sender = receive_until_control(server, probe, control, sent)
    if sender is None:
        obs.outcome = "not-delivered"
        return
    obs.peer = host_of(sender)
    reply, reply_control = b"reply-" + nonce, b"reply-control-" + nonce
    server.sendto(reply, sender)
    client_routes = CONTROL_ROUTES[obs.client_name] if obs.client_name in CONTROL_ROUTES else []
    sent = _send_control(stack, client_routes, client.getsockname()[1], reply_control)
    obs.reply = receive_until_control(client, reply, reply_control, sent) is not None


# --- options family ------------------------------------------------------------------

def observe_options(scenario: Scenario) -> Observation:
    check = scenario["check"]
    obs = Observation(outcome="ok")
    with contextlib.ExitStack() as stack:
        try:
            OPTION_CHECKS[check](stack, scenario, obs)
        except Failure as failure:
            failure.apply(obs)
    return obs


def _default_v6only(stack, scenario, obs):
    sock = open_socket(stack, socket.AF_INET6, scenario.proto)
    obs.value = read_v6only(sock)


def _v6only_on_af_inet(stack, scenario, obs):
    sock = open_socket(stack, socket.AF_INET, scenario.proto)
    set_v6only(sock, "1")


def _set_v6only_after(stack, scenario, obs):
    after, proto = scenario["after"], scenario.proto
    sock = open_socket(stack, socket.AF_INET6, proto)
    if after == "connect":
        peer = open_socket(stack, socket.AF_INET6, proto)
        call("bind", "bind-error", peer.bind, ("::1", 0))
        if proto == "tcp":
            call("listen", "bind-error", peer.listen, 1)
        sock.settimeout(CONNECT_DEADLINE)
        call("connect", "connect-error", sock.connect, peer.getsockname()[:2])
    else:
        call("bind", "bind-error", sock.bind, ("::", 0))
        if after == "listen":
            call("listen", "bind-error", sock.listen, 1)
    try:
        set_v6only(sock, scenario["value"])
    finally:
        obs.value = read_v6only(sock)


def _has_dualstack_ipv6(stack, scenario, obs):
    obs.value = socket.has_dualstack_ipv6()


def _create_server(stack, scenario, obs):
    dualstack = scenario["dualstack_ipv6"] == "true"
    try:
        server = socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=dualstack)
    except ValueError as exc:  # CPython's answer when the platform has no dual-stack
        obs.notes.append(str(exc))
        raise Failure("unsupported", "create_server") from exc
    except OSError as exc:
        raise Failure("unsupported" if exc.errno == getattr(os, "EAFNOSUPPORT", 97) else "bind-error",
                      "create_server", exc) from exc
    stack.enter_context(server)
    obs.value = read_v6only(server)


OPTION_CHECKS = {
    "default-v6only": _default_v6only,
    "set-v6only-on-af-inet": _v6only_on_af_inet,
    "set-v6only": _set_v6only_after,
    "has-dualstack-ipv6": _has_dualstack_ipv6,
    "create-server": _create_server,
}

OBSERVERS = {
    "connect": observe_connect,
    "options": observe_options,
}


def observe(scenario: Scenario) -> Observation:
    return OBSERVERS[scenario.family](scenario)
