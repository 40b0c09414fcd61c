"""connect: a server bound with each IPV6_V6ONLY setting, reached by each client.

Its scenarios, what a platform documents for them, the probe that observes one on this
machine, and the snippet that reproduces it.
"""

from __future__ import annotations

import contextlib
import os
import select
from collections.abc import Iterator

from conformance.machine import Machine
from conformance.observation import Observation
from conformance.platform_model import Platform, Reasoning, connect_failure, ipv6_bind, require
from conformance.reproducer import FAMILY, TYPE, V6ONLY, set_v6only_lines
from conformance.scenario import Scenario, catalogue, combinations
from conformance.sockets import (
    CONTROL_ROUTES,
    PORT_RETRIES,
    Failure,
    PortStolen,
    call,
    client_socket_family,
    connect_outcome,
    family_of,
    host_of,
    on_a_port_of_our_own,
    open_socket,
    read_v6only,
    receive_until_control,
    send_control,
    set_v6only,
)
from conformance.vocabulary import CLIENTS, CONNECT_DEADLINE, Outcome, is_ipv6

NAME = "connect"


def scenarios() -> Iterator[Scenario]:
    spec = catalogue(NAME)
    for proto in spec["protos"]:
        for bind in spec["binds"]:
            v6only = {"v6only": spec["v6only"]} if is_ipv6(bind) else {}  # AF_INET6 binds only
            yield from combinations(NAME, {"proto": [proto], "bind": [bind], **v6only, "client": spec["clients"]})


# --- what a platform documents ---------------------------------------------------------

ACCEPTS = {
    ("0.0.0.0", 4): (True, "ipv4-listener-accepts-ipv4"),
    ("127.0.0.1", 4): (True, "ipv4-listener-accepts-ipv4"),
    ("0.0.0.0", 6): (False, "ipv4-listener-refuses-ipv6"),
    ("127.0.0.1", 6): (False, "ipv4-listener-refuses-ipv6"),
    ("::", 6): (True, "wildcard-accepts-ipv6"),
    ("::1", 4): (False, "specific-ipv6-refuses-ipv4"),
    ("::1", 6): (True, "specific-ipv6-accepts-ipv6"),
    ("::ffff:127.0.0.1", 4): (True, "mapped-bind-accepts-ipv4"),
    ("::ffff:127.0.0.1", 6): (False, "mapped-bind-refuses-ipv6"),
}


def expect(s: Scenario, r: Reasoning) -> None:
    proto, bind, client = s.proto, s["bind"], s["client"]
    server_v6 = is_ipv6(bind)
    require(r, ipv6_socket=server_v6 or client != "ipv4",
            ipv4=(not server_v6) or client != "ipv6" or bind == "::ffff:127.0.0.1")

    server_v6only = None
    if server_v6:
        server_v6only = ipv6_bind(r, bind, s.get("v6only"), proto)
        if bind == "::1":
            sets = r.maybe_fact("specific_bind_sets_v6only")
            if sets is not None and sets.value:
                r.expect("effective_v6only", 1)
        else:
            r.expect("effective_v6only", server_v6only)
    r.expect("server_name", bind)

    if client == "mapped":
        client_v6only = r.v6only(s.get("client_v6only"), proto, Outcome.OPTION_ERROR)
        r.expect("client_v6only", client_v6only)
        if client_v6only:
            r.rule("v6only-client-cannot-use-mapped")
            if proto == "tcp":
                r.fail(connect_failure(r.maybe_fact("connect_mapped_from_v6only")),
                       "connect_mapped_from_v6only")
            r.fail(Outcome.SEND_ERROR, "send_mapped_from_v6only")
        r.rule("mapped-client-is-ipv4")
    elif client == "ipv6":
        if not r.machine.has_ipv6:
            r.fact("connect_without_ipv6_address")
            r.rule("ipv6-loopback-missing")
            r.fail(Outcome.CONNECT_ERROR if proto == "tcp" else Outcome.SEND_ERROR, "connect_without_ipv6_address")
        r.expect("client_v6only", r.default_v6only(proto))

    version = CLIENTS[client].ip_version
    if bind == "::" and version == 4:
        accepted = server_v6only == 0
        r.rule("dualstack-wildcard-accepts-ipv4" if accepted else "v6only-wildcard-refuses-ipv4")
    else:
        accepted, rule_id = ACCEPTS[(bind, version)]
        r.rule(rule_id)

    if not accepted:
        if proto == "tcp":
            r.rule("tcp-refused")
            r.fail(Outcome.REFUSED, errno="ECONNREFUSED")
        r.rule("udp-not-delivered")
        r.fail(Outcome.NOT_DELIVERED)

    r.expectation.outcome = (Outcome.OK,)
    peer = ("::ffff:127.0.0.1" if version == 4 else "::1") if server_v6 else "127.0.0.1"
    r.expect("peer", peer)
    if proto == "tcp":
        r.rule("local-names")
        r.expect("accepted_name", peer)
        r.expect("client_name", CLIENTS[client].address)
    else:
        r.rule("udp-reply-path")
        r.expect("reply", True)


# --- the probe --------------------------------------------------------------------------

def observe(scenario: Scenario, machine: Machine, platform: Platform | None) -> Observation:
    """Bind a server as the scenario says, connect one client, report what happened."""
    return on_a_port_of_our_own(lambda: _connect_once(scenario), PORT_RETRIES)


def _connect_once(scenario: Scenario) -> Observation:
    proto, bind = scenario.proto, scenario["bind"]
    client_kind = scenario["client"]
    obs = Observation(outcome=Outcome.OK)
    with contextlib.ExitStack() as stack:
        try:
            server = open_socket(stack, family_of(bind), proto)
            set_v6only(server, scenario.get("v6only"))
            obs.v6only_set = read_v6only(server)
            call("bind", Outcome.BIND_ERROR, server.bind, (bind, 0))
            obs.effective_v6only = read_v6only(server)
            obs.server_name = host_of(server.getsockname())
            port = server.getsockname()[1]
            if proto == "tcp":
                call("listen", Outcome.BIND_ERROR, server.listen, 8)
            client_spec = CLIENTS[client_kind]
            target = client_spec.address
            client = open_socket(stack, client_socket_family(client_spec), proto)
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


def _udp_exchange(stack, server, bind: str, client, target, obs: Observation) -> None:
    nonce = os.urandom(6).hex().encode()
    probe, control = b"probe-" + nonce, b"control-" + nonce
    try:
        client.sendto(probe, target)
    except OSError as exc:
        raise Failure(Outcome.SEND_ERROR, "send", exc) from exc
    obs.client_name = host_of(client.getsockname())
    sent = send_control(stack, CONTROL_ROUTES[bind], target[1], control)
    sender = receive_until_control(server, probe, control, sent)
    if sender is None:
        obs.outcome = Outcome.NOT_DELIVERED
        return
    obs.peer = host_of(sender)
    reply, reply_control = b"reply-" + nonce, b"reply-control-" + nonce
    server.sendto(reply, sender)
    client_routes = CONTROL_ROUTES[obs.client_name] if obs.client_name in CONTROL_ROUTES else []
    sent = send_control(stack, client_routes, client.getsockname()[1], reply_control)
    obs.reply = receive_until_control(client, reply, reply_control, sent) is not None


# --- the reproducer ---------------------------------------------------------------------

def reproducer(s: Scenario, port: int = 0) -> str:
    """Port 0 lets the kernel pick; a test passes a port it holds, as for coexist_snippet."""
    proto, bind = s.proto, s["bind"]
    client = CLIENTS[s["client"]]
    target = client.address
    lines = [
        "import socket",
        f"srv = socket.socket({FAMILY[is_ipv6(bind)]}, {TYPE[proto]})",
        *set_v6only_lines("srv", s.get("v6only")),
        f"cli = socket.socket({FAMILY[client.socket_family == 6]}, {TYPE[proto]})",
        *set_v6only_lines("cli", s.get("client_v6only")),
        "try:",
        f"    srv.bind(({bind!r}, {port}))",
    ]
    if is_ipv6(bind):
        lines.append(f"    print('server IPV6_V6ONLY:', srv.getsockopt({V6ONLY}))")
    if proto == "tcp":
        lines += [
            "    srv.listen()",
            "    cli.settimeout(5)",
            f"    cli.connect(({target!r}, srv.getsockname()[1]))",
            "    conn, peer = srv.accept()",
            "    print('ok: server saw', peer[0], 'accepted socket is', conn.getsockname()[0])",
            "    conn.close()",
        ]
    else:
        lines += [
            f"    cli.sendto(b'probe', ({target!r}, srv.getsockname()[1]))",
            "    srv.settimeout(0.5)",
            "    data, peer = srv.recvfrom(64)",
            "    print('ok: server saw', peer[0])",
            "    srv.sendto(b'reply', peer)",
            "    cli.settimeout(0.5)",
            "    print('reply reached the client:', cli.recvfrom(64)[0] == b'reply')",
            "except socket.timeout:",
            "    print('not delivered (nothing within 0.5 s)')",
        ]
    lines += [
        "except OSError as exc:",
        "    print('failed:', exc)",
        "finally:",
        "    cli.close()",
        "    srv.close()",
    ]
    return "\n".join(lines) + "\n"
