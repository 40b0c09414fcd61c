"""options: IPV6_V6ONLY defaults, when it can be changed, and what Python reports.

Its scenarios, what a platform documents for them, the probe that observes one on this
machine, and the snippet that reproduces it.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

from conformance.errnames import describe
from conformance.machine import Machine
from conformance.observation import Observation
from conformance.platform_model import SKIPPED, UNSUPPORTED, Platform, Reasoning, Unknown, require
from conformance.reproducer import TYPE, V6ONLY
from conformance.scenario import Scenario, checks
from conformance.sockets import Failure, call, open_socket, read_v6only, set_v6only
from conformance.vocabulary import CONNECT_DEADLINE, Outcome

NAME = "options"


def scenarios() -> Iterator[Scenario]:
    return checks(NAME, ["tcp", "udp"])


# --- what a platform documents ---------------------------------------------------------

def expect(s: Scenario, r: Reasoning) -> None:
    check, proto = s["check"], s.proto
    if check == "set-v6only-on-af-inet":
        require(r, ipv4=True)
        if not r.fact("v6only_on_af_inet").asserted:
            raise Unknown("v6only_on_af_inet")
        r.fail(Outcome.OPTION_ERROR, "v6only_on_af_inet")
    if check == "has-dualstack-ipv6":  # meaningful without AF_INET6 too: it must say False
        r.rule("python-has-dualstack")
        r.expectation.outcome = (Outcome.OK,)
        r.expect("value", r.machine.has_mapped)
        return
    require(r, ipv6_socket=True)
    if check == "default-v6only":
        r.expectation.outcome = (Outcome.OK,)
        r.expect("value", r.default_v6only(proto))
    elif check == "set-v6only":
        if s["after"] == "connect" and not r.machine.has_ipv6:  # the peer it connects to lives on ::1
            r.rule("ipv6-loopback-missing")
            r.fail(Outcome.BIND_ERROR, "bind_missing_address", kind=SKIPPED)
        r.expect("value", r.default_v6only(proto))
        fact = r.fact("set_v6only_after_bind")
        if not fact.asserted:
            raise Unknown("set_v6only_after_bind")
        r.fail(Outcome.OPTION_ERROR, "set_v6only_after_bind")
    elif check == "create-server":
        r.rule("python-create-server")
        dualstack = s["dualstack_ipv6"] == "true"
        if dualstack and not r.fact("mapped_supported").value:
            r.fail(Outcome.UNSUPPORTED, kind=UNSUPPORTED)
        r.expectation.outcome = (Outcome.OK,)
        r.expect("value", 0 if dualstack else 1)


# --- the probe --------------------------------------------------------------------------

def observe(scenario: Scenario, machine: Machine, platform: Platform | None) -> Observation:
    check = scenario["check"]
    obs = Observation(outcome=Outcome.OK)
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
        call("bind", Outcome.BIND_ERROR, peer.bind, ("::1", 0))
        if proto == "tcp":
            call("listen", Outcome.BIND_ERROR, peer.listen, 1)
        sock.settimeout(CONNECT_DEADLINE)
        call("connect", Outcome.CONNECT_ERROR, sock.connect, peer.getsockname()[:2])
    else:
        call("bind", Outcome.BIND_ERROR, sock.bind, ("::", 0))
        if after == "listen":
            call("listen", Outcome.BIND_ERROR, sock.listen, 1)
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
        raise Failure(Outcome.UNSUPPORTED, "create_server") from exc
    except OSError as exc:
        no_af_inet6 = describe(exc)[0] == "EAFNOSUPPORT"  # the portable name: Winsock's code differs
        raise Failure(Outcome.UNSUPPORTED if no_af_inet6 else Outcome.BIND_ERROR, "create_server", exc) from exc
    stack.enter_context(server)
    obs.value = read_v6only(server)


OPTION_CHECKS = {
    "default-v6only": _default_v6only,
    "set-v6only-on-af-inet": _v6only_on_af_inet,
    "set-v6only": _set_v6only_after,
    "has-dualstack-ipv6": _has_dualstack_ipv6,
    "create-server": _create_server,
}


# --- the reproducer ---------------------------------------------------------------------

def reproducer(s: Scenario) -> str:
    check, type_ = s["check"], TYPE[s.proto]
    head = ["import socket"]
    if check == "default-v6only":
        body = [f"with socket.socket(socket.AF_INET6, {type_}) as s:",
                f"    print('default IPV6_V6ONLY:', s.getsockopt({V6ONLY}))"]
    elif check == "set-v6only-on-af-inet":
        body = [f"with socket.socket(socket.AF_INET, {type_}) as s:",
                "    try:",
                f"        s.setsockopt({V6ONLY}, 1)",
                "        print('ok')",
                "    except OSError as exc:",
                "        print('failed:', exc)"]
    elif check == "set-v6only":
        after = s["after"]
        body = [f"with socket.socket(socket.AF_INET6, {type_}) as s, socket.socket(socket.AF_INET6, {type_}) as peer:"]
        if after == "connect":
            body += ["    peer.bind(('::1', 0))"]
            body += ["    peer.listen()"] if s.proto == "tcp" else []
            body += ["    s.connect(peer.getsockname()[:2])"]
        else:
            body += ["    s.bind(('::', 0))"]
            body += ["    s.listen()"] if after == "listen" else []
        body += ["    try:",
                 f"        s.setsockopt({V6ONLY}, {int(s['value'])})",
                 "        print('ok')",
                 "    except OSError as exc:",
                 "        print('failed:', exc)",
                 f"    print('IPV6_V6ONLY now:', s.getsockopt({V6ONLY}))"]
    elif check == "has-dualstack-ipv6":
        body = ["print('has_dualstack_ipv6():', socket.has_dualstack_ipv6())",
                "with socket.socket(socket.AF_INET6) as s:",
                f"    s.setsockopt({V6ONLY}, 0)",
                "    s.bind(('::ffff:127.0.0.1', 0))",
                "    print('an IPv4-mapped bind works')"]
    else:
        dualstack = s["dualstack_ipv6"] == "true"
        body = [f"with socket.create_server(('::', 0), family=socket.AF_INET6, dualstack_ipv6={dualstack}) as s:",
                f"    print('IPV6_V6ONLY:', s.getsockopt({V6ONLY}))"]
    return "\n".join(head + body) + "\n"
