"""coexist: an IPv4 and an IPv6 socket on one port, with each v6only and reuse option.

Its scenarios, what a platform documents for them (the bind and listen conflict rules
of conformance/coexistence.py), the probe that observes one on this machine, and the
snippet that reproduces it.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from conformance import coexistence, ports
from conformance.datafiles import load_toml
from conformance.errnames import describe
from conformance.machine import Machine
from conformance.observation import Observation
from conformance.platform_model import UNSUPPORTED, Platform, Reasoning, Unknown, ipv6_bind, require
from conformance.reproducer import TYPE, set_v6only_lines
from conformance.scenario import Scenario, catalogue, combinations
from conformance.sockets import (
    PORT_RETRIES,
    SOCK_TYPES,
    Failure,
    PortStolen,
    call,
    on_a_port_of_our_own,
    open_socket,
    port_taken,
    read_v6only,
    set_v6only,
)
from conformance.vocabulary import CONNECT_DEADLINE, UDP_DEADLINE, Outcome

NAME = "coexist"


def scenarios() -> Iterator[Scenario]:
    spec, one_sided = catalogue(NAME), catalogue(NAME)["asymmetric"]
    axes = {"proto": spec["protos"], "ipv4": spec["ipv4"], "ipv6": spec["ipv6"], "v6only": spec["v6only"],
            "reuse": spec["reuse"], "order": spec["orders"]}
    yield from combinations(NAME, axes)
    yield from combinations(NAME, {**axes, "proto": one_sided["protos"], "ipv6": one_sided["ipv6"],
                                   "v6only": one_sided["v6only"], "reuse": one_sided["reuse"]})


def options_of(s: Scenario) -> tuple[str, str]:
    """The reuse option of the socket bound first and of the one bound second: "X" sets
    X on both, "X+Y" X on the first only and Y on the second."""
    first, _, second = s["reuse"].partition("+")
    return first, second or first


def options_by_family(s: Scenario) -> dict[int, str]:
    first, second = options_of(s)
    return {4: first, 6: second} if s["order"] == "ipv4-first" else {6: first, 4: second}


# --- what a platform documents ---------------------------------------------------------

SOCKET_NAMES = {0: "ipv4-socket", 1: "ipv6-socket"}


def expect(s: Scenario, r: Reasoning) -> None:
    proto, ipv6 = s.proto, s["ipv6"]
    require(r, ipv6_socket=True, ipv4=True)
    if any(option != "none" and option not in r.fact("socket_options").value for option in options_of(s)):
        r.rule("option-missing")
        r.fail(Outcome.UNSUPPORTED, kind=UNSUPPORTED)
    v6only = ipv6_bind(r, ipv6, s["v6only"], proto)
    pair(r, Pair(proto, s["ipv4"], ipv6, v6only, s["reuse"], s["order"]))


@dataclass(frozen=True)
class Pair:
    """Two sockets on one port: an AF_INET one on ``ipv4`` and an AF_INET6 one on ``ipv6``
    with its effective IPV6_V6ONLY, the same reuse option on both, bound in ``order``."""

    proto: str
    ipv4: str
    ipv6: str
    v6only: int
    reuse: str  # as the catalogue spells it: "X" on both, "X+Y" on the first and the second
    order: str

    @property
    def one_sided(self) -> bool:
        return "+" in self.reuse

    def option(self, family: int) -> str:
        first, _, second = self.reuse.partition("+")
        first_family = 4 if self.order == "ipv4-first" else 6
        return first if family == first_family or not second else second

    def as_cell(self) -> dict[str, Any]:
        return {"proto": self.proto, "ipv4": self.ipv4, "ipv6": self.ipv6, "v6only": self.v6only,
                "reuse": self.reuse, "order": self.order}

    def socket(self, family: int) -> dict[str, Any]:
        """One socket as an asymmetric entry of coexistence.toml describes it."""
        if family == 4:
            return {"family": 4, "address": self.ipv4, "reuse": self.option(4)}
        return {"family": 6, "address": self.ipv6, "v6only": self.v6only, "reuse": self.option(6)}

    def in_order(self) -> tuple[dict[str, Any], dict[str, Any]]:
        v4, v6 = self.socket(4), self.socket(6)
        return (v4, v6) if self.order == "ipv4-first" else (v6, v4)


def pair(r: Reasoning, p: Pair) -> None:
    """What the platform documents for two sockets on one port: a failure at the second
    bind or listen (Stop), or both serving and who gets each client; Unknown where
    nothing decides. Linux's stack is modelled in code, the others are rules of
    conformance/data/coexistence.toml."""
    stack = r.fact("coexistence_rules").value
    if stack == "linux":
        linux_pair(r, p)
    else:
        rule_pair(r, p, stack)


def linux_pair(r: Reasoning, p: Pair) -> None:
    def flags(family: int) -> dict[str, bool]:
        return {"reuseaddr": p.option(family) == "SO_REUSEADDR", "reuseport": p.option(family) == "SO_REUSEPORT"}

    v4 = coexistence.Binding(4, p.ipv4, **flags(4))
    v6 = coexistence.Binding(6, p.ipv6, v6only=p.v6only, **flags(6))
    rules = coexistence.rules_of(r.platform) if r.platform is not None else None
    if rules is None:
        raise Unknown("coexistence_rules")
    if coexistence.overlap(v4, v6, rules):
        r.rule("coexist-dualstack-overlaps")
        first, second = (v4, v6) if p.order == "ipv4-first" else (v6, v4)
        if coexistence.bind_conflict(first, second, p.proto, rules):
            r.fail(Outcome.BIND_ERROR, errno="EADDRINUSE")
        if p.proto == "tcp" and coexistence.listen_conflict([first.listen()], second, rules):
            r.fail(Outcome.LISTEN_ERROR, errno="EADDRINUSE")
    else:
        r.rule("coexist-without-overlap")
    r.rule("coexist-receiver")
    r.expectation.outcome = (Outcome.OK,)
    bound = [v4.listen(), v6.listen()]
    for client in clients_here(r):
        reached = coexistence.receivers(bound, client)
        if len(reached) == 1 or not reached:
            r.expect(f"{client}_to", SOCKET_NAMES[reached[0]] if reached else "nobody")


def clients_here(r: Reasoning) -> list[str]:
    return ["ipv4", "ipv6"] if r.machine.has_ipv6 else ["ipv4"]


@cache
def stacks() -> dict[str, Any]:
    return load_toml("coexistence.toml")


def matches(when: dict[str, Any], cell: dict[str, Any]) -> bool:
    return all(cell[key] in (wanted if isinstance(wanted, list) else [wanted]) for key, wanted in when.items())


def stack_rule(stack: str, os: str, cell: dict[str, Any]) -> dict[str, Any] | None:
    """The rule of ``stack`` that decides ``cell`` on ``os``; at most one does (a test
    checks), and none means the cell is not documented."""
    spec = stacks().get(stack, {})
    for rule in spec.get("rule", []):
        if os in rule.get("platforms", spec["platforms"]) and matches(rule["when"], cell):
            return dict(rule)
    return None


def asymmetric_rule(stack: str, os: str, p: Pair) -> dict[str, Any] | None:
    """The entry of coexistence.toml that documents a pair whose sockets set different
    options; none means the pair is not documented."""
    first, second = p.in_order()
    for entry in stacks().get("asymmetric", []):
        platforms = entry.get("platforms", stacks()[entry["stack"]]["platforms"])
        if entry["stack"] == stack and os in platforms and matches(entry["first"], first) \
                and matches(entry["second"], second):
            return dict(entry)
    return None


def rule_confidence(rule: dict[str, Any], os: str) -> str:
    confidence = rule.get("confidence", "high")
    return str(confidence.get(os, "high") if isinstance(confidence, dict) else confidence)


def rule_pair(r: Reasoning, p: Pair, stack: str) -> None:
    os = r.platform.os if r.platform is not None else ""
    rule = asymmetric_rule(stack, os, p) if p.one_sided else stack_rule(stack, os, p.as_cell())
    if rule is None:
        raise Unknown(f"no {stack} coexistence rule decides this cell")
    for source in [rule["source"], *rule.get("also", [])]:
        r.reason(rule["because"], source)
    if rule_confidence(rule, os) == "low":
        r.expectation.confidence = "low"
    then = rule["then"]
    for stage, outcome in (("bind", Outcome.BIND_ERROR), ("listen", Outcome.LISTEN_ERROR)):
        answer = then.get(stage)
        if stage == "listen" and p.proto == "tcp" and answer is None:  # the binds alone are documented
            r.expectation.outcome = (Outcome.OK, Outcome.LISTEN_ERROR)
            return
        if answer is not None and answer != "ok":
            r.fail(outcome, errno=answer if isinstance(answer, str) else None)
    r.expectation.outcome = (Outcome.OK,)
    for client in clients_here(r):
        if f"{client}_to" in then:
            r.expect(f"{client}_to", then[f"{client}_to"])


# --- the probe --------------------------------------------------------------------------

COEXIST_CLIENTS = {"ipv4": (socket.AF_INET, "127.0.0.1"), "ipv6": (socket.AF_INET6, "::1")}


def set_reuse(sock: socket.socket, option: str) -> None:
    if option == "none":
        return
    if not hasattr(socket, option):  # Windows has no SO_REUSEPORT, POSIX no SO_EXCLUSIVEADDRUSE
        raise Failure(Outcome.UNSUPPORTED, "setsockopt")
    try:
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, option), 1)
    except OSError as exc:
        raise Failure(Outcome.OPTION_ERROR, "setsockopt", exc) from exc


def observe(scenario: Scenario, machine: Machine, platform: Platform | None) -> Observation:
    def attempt() -> Observation:
        with ports.reserved() as port:
            return _coexist_once(scenario, port)
    # more tries than connect: TIME_WAIT of an earlier cell also sends us to another port
    return on_a_port_of_our_own(attempt, PORT_RETRIES * 4)


def _coexist_once(scenario: Scenario, port: int) -> Observation:
    proto = scenario.proto
    obs = Observation(outcome=Outcome.OK)
    with contextlib.ExitStack() as stack:
        try:
            v4 = open_socket(stack, socket.AF_INET, proto)
            v6 = open_socket(stack, socket.AF_INET6, proto)
            options = options_by_family(scenario)
            set_reuse(v4, options[4])
            set_reuse(v6, options[6])
            set_v6only(v6, scenario["v6only"])
            obs.v6only_set = read_v6only(v6)
            pairs = [(v4, scenario["ipv4"]), (v6, scenario["ipv6"])]
            if scenario["order"] == "ipv6-first":
                pairs.reverse()
            (first, first_addr), (second, second_addr) = pairs
            try:
                first.bind((first_addr, port))
            except OSError as exc:
                if port_taken(exc):
                    raise PortStolen() from exc  # someone else's port: draw another
                raise Failure(Outcome.BIND_ERROR, "bind-first", exc) from exc
            try:
                call("bind-second", Outcome.BIND_ERROR, second.bind, (second_addr, port))
                obs.effective_v6only = read_v6only(v6)
                if proto == "tcp":
                    call("listen-first", Outcome.LISTEN_ERROR, first.listen, 8)
                    call("listen-second", Outcome.LISTEN_ERROR, second.listen, 8)
            except Failure as failure:
                if failure.exc is not None and port_taken(failure.exc):
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


# --- the reproducer ---------------------------------------------------------------------

def reproducer(s: Scenario, port: int = 0) -> str:
    """Port 0 lets the first bind pick; a test passes a port it holds so that nothing
    else on the machine (an ephemeral client port in the other family) can collide."""
    type_, options = TYPE[s.proto], options_by_family(s)
    pairs = [("v4", s["ipv4"]), ("v6", s["ipv6"])]
    if s["order"] == "ipv6-first":
        pairs.reverse()
    (first, first_addr), (second, second_addr) = pairs
    lines = ["import socket",
             f"v4 = socket.socket(socket.AF_INET, {type_})",
             f"v6 = socket.socket(socket.AF_INET6, {type_})",
             "try:"]
    if options[4] == options[6] != "none":
        lines += ["    for s in (v4, v6):",
                  f"        s.setsockopt(socket.SOL_SOCKET, socket.{options[4]}, 1)"]
    elif options[4] != options[6]:
        lines += [f"    {name}.setsockopt(socket.SOL_SOCKET, socket.{options[family]}, 1)"
                  for name, family in (("v4", 4), ("v6", 6)) if options[family] != "none"]
    lines += ["    " + line for line in set_v6only_lines("v6", s["v6only"])]
    lines += [f"    {first}.bind(({first_addr!r}, {port}))",
              f"    port = {first}.getsockname()[1]",
              f"    {second}.bind(({second_addr!r}, port))",
              "    print('both bound to port', port)"]
    if s.proto == "tcp":
        lines += [f"    {first}.listen()", f"    {second}.listen()", "    print('both listening')"]
    lines += ["except (OSError, AttributeError) as exc:",
              "    print('failed:', exc)",
              "finally:",
              "    v4.close()",
              "    v6.close()"]
    return "\n".join(lines) + "\n"
