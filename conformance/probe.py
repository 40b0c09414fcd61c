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
import errno
import os
import select
import socket
import time
from collections.abc import Callable

from conformance import ports
from conformance.errnames import describe
from conformance.observation import Observation
from conformance.scenario import Scenario, is_ipv6, subject_spec

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

def on_a_port_of_our_own(attempt: Callable[[], Observation], tries: int) -> Observation:
    """Run a cell again on another port while some other socket answers on ours."""
    for _ in range(tries):
        try:
            return attempt()
        except PortStolen:
            continue
    return Observation(outcome="timeout", stage="connect",
                       notes=[f"another socket kept answering on our port after {tries} tries"])


def observe_connect(scenario: Scenario) -> Observation:
    """Bind a server as the scenario says, connect one client, report what happened."""
    return on_a_port_of_our_own(lambda: _connect_once(scenario), PORT_RETRIES)


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

# --- coexist family -----------------------------------------------------------------

COEXIST_CLIENTS = {"ipv4": (socket.AF_INET, "127.0.0.1"), "ipv6": (socket.AF_INET6, "::1")}


def set_reuse(sock: socket.socket, option: str) -> None:
    if option == "none":
        return
    if not hasattr(socket, option):  # Windows has no SO_REUSEPORT, POSIX no SO_EXCLUSIVEADDRUSE
        raise Failure("unsupported", "setsockopt")
    try:
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, option), 1)
    except OSError as exc:
        raise Failure("option-error", "setsockopt", exc) from exc


def observe_coexist(scenario: Scenario) -> Observation:
    def attempt() -> Observation:
        with ports.reserved() as port:
            return _coexist_once(scenario, port)
    # more tries than connect: TIME_WAIT of an earlier cell also sends us to another port
    return on_a_port_of_our_own(attempt, PORT_RETRIES * 4)


def _coexist_once(scenario: Scenario, port: int) -> Observation:
    proto = scenario.proto
    obs = Observation(outcome="ok")
    with contextlib.ExitStack() as stack:
        try:
            v4 = open_socket(stack, socket.AF_INET, proto)
            v6 = open_socket(stack, socket.AF_INET6, proto)
            for sock in (v4, v6):
                set_reuse(sock, scenario["reuse"])
            set_v6only(v6, scenario["v6only"])
            obs.v6only_set = read_v6only(v6)
            pairs = [(v4, scenario["ipv4"]), (v6, scenario["ipv6"])]
            if scenario["order"] == "ipv6-first":
                pairs.reverse()
            (first, first_addr), (second, second_addr) = pairs
            try:
                first.bind((first_addr, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortStolen() from exc  # someone else's port: draw another
                raise Failure("bind-error", "bind-first", exc) from exc
            try:
                call("bind-second", "bind-error", second.bind, (second_addr, port))
                obs.effective_v6only = read_v6only(v6)
                if proto == "tcp":
                    call("listen-first", "listen-error", first.listen, 8)
                    call("listen-second", "listen-error", second.listen, 8)
            except Failure as failure:
                if failure.exc is not None and failure.exc.errno == errno.EADDRINUSE:
                    stack.close()  # release ours, then see whether a stranger holds the port
                    if ports.held_elsewhere(port, proto):
                        raise PortStolen() from failure
                raise
            names = {v4.fileno(): "ipv4-socket", v6.fileno(): "ipv6-socket"}
            for client, (family, target) in COEXIST_CLIENTS.items():
                reached = _reached(stack, proto, (v4, v6), family, (target, port))
                setattr(obs, f"{client}_to", names.get(reached, reached))
        except Failure as failure:
            failure.apply(obs)
    return obs


def _reached(stack, proto: str, servers, family, target):
    """The fileno of the server socket a client reached, "nobody", or "error:ERRNO"."""
    try:
        client = stack.enter_context(socket.socket(family, SOCK_TYPES[proto]))
        client.settimeout(CONNECT_DEADLINE)
        client.connect(target)
    except ConnectionRefusedError:
        return "nobody"
    except OSError as exc:
        return f"error:{describe(exc)[0]}"
    if proto == "tcp":
        ready, _, _ = select.select(list(servers), [], [], CONNECT_DEADLINE)
        if not ready:
            raise PortStolen()
        conn, _ = ready[0].accept()
        client.close()  # the client closes first, so TIME_WAIT stays off the shared port
        conn.close()
        return ready[0].fileno()
    # UDP: the control leaves the same socket on the same path, so it lands where the
    # probe did; a port nobody listens on answers the connected client with ECONNREFUSED.
    nonce = os.urandom(6).hex().encode()
    try:
        client.send(b"probe-" + nonce)
        client.send(b"control-" + nonce)
    except ConnectionRefusedError:  # the ICMP answer to the probe, reported on the control
        return "nobody"
    except OSError as exc:
        return f"error:{describe(exc)[0]}"
    deadline = time.monotonic() + UDP_DEADLINE
    found = None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([*servers, client], [], [], deadline - time.monotonic())
        if client in ready:
            with contextlib.suppress(OSError):
                client.recv(64)
            return "nobody"
        for sock in ready:
            data, _ = sock.recvfrom(64)
            if data == b"probe-" + nonce:
                found = sock.fileno()
            elif data == b"control-" + nonce:
                return found if found is not None else "nobody"
    return found if found is not None else "nobody"


# --- names family -------------------------------------------------------------------

def _addresses(infos) -> list[str]:
    return [host_of(info[4]) for info in infos]


def _getaddrinfo(host, port, family, flags) -> list[str]:
    return _addresses(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, flags))


MAPPED_BYTES = bytes(10) + b"\xff\xff" + bytes([127, 0, 0, 1])


def observe_names(scenario: Scenario) -> Observation:
    import ipaddress

    check = scenario["check"]
    obs = Observation(outcome="ok")
    try:
        if check == "passive-order":
            obs.value = _getaddrinfo(None, 8080, socket.AF_UNSPEC, socket.AI_PASSIVE)
        elif check == "localhost":
            obs.value = _getaddrinfo("localhost", 8080, socket.AF_UNSPEC, 0)
        elif check in ("ai-v4mapped", "ai-all"):
            flag = getattr(socket, "AI_V4MAPPED", None)
            if flag is None or (check == "ai-all" and not hasattr(socket, "AI_ALL")):
                raise Failure("unsupported", "getaddrinfo")
            host = "127.0.0.1" if check == "ai-v4mapped" else "localhost"
            flags = flag if check == "ai-v4mapped" else flag | socket.AI_ALL
            obs.value = _getaddrinfo(host, 8080, socket.AF_INET6, flags)
        elif check == "inet-pton-mapped":
            obs.value = socket.inet_pton(socket.AF_INET6, "::ffff:127.0.0.1").hex()
        elif check == "inet-ntop-mapped":
            obs.value = socket.inet_ntop(socket.AF_INET6, MAPPED_BYTES)
        elif check == "ipaddress-ipv4-mapped":  # the hex and the dotted form are one address
            obs.value = [str(ipaddress.IPv6Address(form).ipv4_mapped)
                         for form in ("::ffff:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:ffff:7f00:1")]
        elif check == "ipaddress-str":
            obs.value = str(ipaddress.ip_address("::ffff:7f00:1"))
        elif check == "bind-127.0.0.2":
            with socket.socket(socket.AF_INET, SOCK_TYPES[scenario.proto]) as sock:
                call("bind", "bind-error", sock.bind, ("127.0.0.2", 0))
                obs.value = host_of(sock.getsockname())
    except socket.gaierror as exc:
        obs.outcome, obs.stage, obs.errno = "resolve-error", "getaddrinfo", f"EAI:{exc.errno}"
    except Failure as failure:
        failure.apply(obs)
    except OSError as exc:
        Failure("option-error", check, exc).apply(obs)
    return obs


# --- subjects family -----------------------------------------------------------------

def observe_subjects(scenario: Scenario) -> Observation:
    from conformance import subjects
    from conformance.facts import os_name

    spec = subject_spec(scenario)
    if os_name() not in spec.get("platforms", [os_name()]):
        return Observation(outcome="unsupported", stage="precondition",
                           notes=[f"{spec['server']} does not run on {os_name()}"])
    with ports.free() as port:
        try:
            command = subjects.command_for(spec["command"], port, spec.get("needs", []))
        except subjects.Unavailable as exc:
            return Observation(outcome="unsupported", stage="precondition", notes=[str(exc)])
        run = subjects.run_subject(command, port, spec.get("http", False))
    return Observation(outcome=run.outcome, clients=run.clients or None, listeners=run.listeners or None,
                       notes=run.notes)


OBSERVERS = {
    "connect": observe_connect,
    "options": observe_options,
    "coexist": observe_coexist,
    "names": observe_names,
    "subjects": observe_subjects,
}


def observe(scenario: Scenario) -> Observation:
    return OBSERVERS[scenario.family](scenario)
