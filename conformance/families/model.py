"""model: random sequences of socket calls on one shared port, each kernel answer
checked against the platform's coexistence rules (conformance/coexistence.py).

``SocketCalls`` is a Hypothesis state machine. It creates AF_INET and AF_INET6
sockets, sets IPV6_V6ONLY and the reuse options, binds them to loopback and wildcard
addresses on the shared port, listens, connects and closes, in random order. When a
kernel answer differs from the model, Hypothesis shrinks the run to a short sequence of
socket calls that shows it. One cell per protocol: its observation says whether every
answer agreed, how many examples ran and which rules they exercised, and a
counterexample's socket calls, which are also its reproducer.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import ClassVar

from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, precondition, rule, run_state_machine_as_test

from conformance import coexistence, ports
from conformance.machine import Machine
from conformance.observation import Observation
from conformance.platform_model import SKIPPED, Platform, Reasoning, Unknown, require
from conformance.scenario import Scenario
from conformance.vocabulary import CLIENTS, CONNECT_DEADLINE, Outcome

NAME = "model"
ADDRESSES = {4: ["0.0.0.0", "127.0.0.1"], 6: ["::", "::1", "::ffff:127.0.0.1"]}
AGREES = "every kernel answer agreed with the model"
# The start of a counterexample's reproducer: each call then prints the kernel's answer
# beside the model's.
REPRODUCER_HEAD = ("import errno, socket", "P = 24999  # a port no other socket holds", "",
                   "def answer(call):",
                   "    try:",
                   "        call()",
                   "        return 'ok'",
                   "    except OSError as exc:",
                   "        return errno.errorcode.get(exc.errno, str(exc.errno))", "")
# The errno each refused call answers, as the platform documents it (facts of
# conformance/data/expectations/<os>.toml); these are Linux's, the only stack the
# machine models today.
ERRNO_FACTS = {"v6only_on_af_inet": "ENOPROTOOPT", "set_v6only_after_bind": "EINVAL", "rebind_errno": "EINVAL",
               "bind_mapped_on_v6only": "EINVAL", "bind_conflict_errno": "EADDRINUSE",
               "listen_conflict_errno": "EADDRINUSE"}


def answer(call) -> str:
    """"ok" or the errno name of a socket call."""
    try:
        call()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc.errno))


@dataclass
class Modelled:
    """What the model knows of one socket."""

    family: int
    sock: socket.socket
    v6only: int
    reuseaddr: bool = False
    reuseport: bool = False
    address: str | None = None
    listening: bool = False

    def binding(self, **changes) -> coexistence.Binding:
        """The socket as the rules see it (the address given in changes before bind)."""
        current = coexistence.Binding(self.family, self.address or "", self.v6only, self.reuseaddr,
                                      self.reuseport, self.listening)
        return replace(current, **changes)


class SocketCalls(RuleBasedStateMachine):
    rules_ = coexistence.LINUX
    default_v6only = 0
    proto = "tcp"
    errnos: ClassVar[dict[str, str]] = ERRNO_FACTS
    # What the runs of this class did, for the record: examples, rule counts, and the
    # socket calls of the last run (the shrunk counterexample, when one fails).
    examples = 0
    exercised: ClassVar[Counter[str]] = Counter()
    last_calls: ClassVar[list[str]] = []

    sockets = Bundle("sockets")

    def __init__(self):
        super().__init__()
        cls = type(self)
        cls.examples += 1
        cls.last_calls = self.calls = [*REPRODUCER_HEAD, f"# {self.proto.upper()}, every call on one port P"]
        self.reservation = contextlib.ExitStack()
        self.port = self.reservation.enter_context(ports.free())
        self.open: dict[int, Modelled] = {}
        self.next_id = 0
        self.bucket: coexistence.Bucket | None = None  # TCP only; None while the port has no owner
        self.udp_order: list[int] = []  # UDP only: the port's sockets in the kernel's list order

    def others(self, handle: int) -> list[coexistence.Binding]:
        return [m.binding() for h, m in self.open.items() if h != handle and m.address is not None]

    def check(self, call: str, observed: str, expected: str) -> None:
        type(self).exercised[call.split("(")[0].split(".")[-1]] += 1
        self.calls.append(f"print({call!r}, answer(lambda: {call}), {'(the model says ' + expected + ')'!r})")
        assert observed == expected, f"{call}: the kernel answered {observed}, the model says {expected}"

    @rule(target=sockets, family=st.sampled_from([4, 6]), reuse=st.sampled_from(["none", "SO_REUSEADDR", "SO_REUSEPORT"]))
    def create(self, family, reuse):
        """A new socket, with a reuse option set at once, as servers do."""
        kind = socket.SOCK_STREAM if self.proto == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET if family == 4 else socket.AF_INET6, kind)
        handle, self.next_id = self.next_id, self.next_id + 1
        m = self.open[handle] = Modelled(family, sock, v6only=self.default_v6only if family == 6 else 0)
        kind_name = "SOCK_STREAM" if self.proto == "tcp" else "SOCK_DGRAM"
        self.calls.append(f"s{handle} = socket.socket(socket.AF_INET{'6' if family == 6 else ''}, socket.{kind_name})")
        if reuse != "none":
            self.check(f"s{handle}.setsockopt(socket.SOL_SOCKET, socket.{reuse}, 1)",
                       answer(lambda: sock.setsockopt(socket.SOL_SOCKET, getattr(socket, reuse), 1)), "ok")
            setattr(m, reuse[3:].lower(), True)
        return handle

    @rule(handle=sockets, value=st.sampled_from([0, 1]))
    def set_v6only(self, handle, value):
        m = self.open.get(handle)
        if m is None:
            return
        observed = answer(lambda: m.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, value))
        if m.family == 4:
            expected = self.errnos["v6only_on_af_inet"]
        elif m.address is not None:
            expected = self.errnos["set_v6only_after_bind"]
        else:
            expected = "ok"
            m.v6only = value
        self.check(f"s{handle}.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, {value})", observed, expected)

    @rule(handle=sockets, address=st.sampled_from(ADDRESSES[4] + ADDRESSES[6]))
    def bind(self, handle, address):
        m = self.open.get(handle)
        if m is None or address not in ADDRESSES[m.family]:
            return
        observed = answer(lambda: m.sock.bind((address, self.port)))
        new = m.binding(address=address)
        if m.address is not None:
            expected = self.errnos["rebind_errno"]
        elif address.startswith(coexistence.MAPPED_PREFIX) and m.v6only:
            expected = self.errnos["bind_mapped_on_v6only"]
        elif self.bind_conflict(handle, new):
            expected = self.errnos["bind_conflict_errno"]
        else:
            expected = "ok"
            m.address = address
            m.v6only = new.effective_v6only
            self.owned(new)
            if self.proto == "udp":
                self.udp_order = coexistence.udp_list_insert(self.udp_order, handle, new)
        self.check(f"s{handle}.bind(({address!r}, P))", observed, expected)

    def bind_conflict(self, handle: int, new: coexistence.Binding) -> bool:
        if self.proto == "udp":
            ordered = [self.open[h].binding() for h in self.udp_order]
            return coexistence.udp_bind_conflict(ordered, new, self.rules_)
        return self.conflicts(handle, new, lambda o: coexistence.bind_conflict(o, new, "tcp", self.rules_))

    def conflicts(self, handle: int, new: coexistence.Binding, conflict) -> bool:
        """Does any other owner of the port collide with ``new``? TCP first tries its
        bind bucket's fast path, which skips the check."""
        others = self.others(handle)
        if self.proto == "tcp" and others and self.bucket is not None \
                and coexistence.fast_path(self.bucket, new, self.rules_):
            return False
        return any(conflict(o) for o in others)

    def owned(self, new: coexistence.Binding) -> None:
        if self.proto == "tcp":
            self.bucket = coexistence.after_bind(self.bucket, new, self.rules_)

    @precondition(lambda self: self.proto == "tcp")
    @rule(handle=sockets)
    def listen(self, handle):
        m = self.open.get(handle)
        if m is None or m.address is None:  # listen() on an unbound socket picks a random port
            return
        observed = answer(lambda: m.sock.listen(8))
        new = m.binding(listening=True)
        if m.listening or not self.conflicts(
                handle, new, lambda o: coexistence.listen_conflict([o], new, self.rules_)):
            expected = "ok"
            if not m.listening:
                self.owned(new)
            m.listening = True
        else:
            expected = self.errnos["listen_conflict_errno"]
        self.check(f"s{handle}.listen(8)", observed, expected)

    # only while something listens: a connect to nobody says nothing about the rules
    @precondition(lambda self: self.proto == "tcp" and any(m.listening for m in self.open.values()))
    @rule(client=st.sampled_from(["ipv4", "ipv6"]))
    def connect(self, client):
        target = CLIENTS[client].address
        family = socket.AF_INET if CLIENTS[client].socket_family == 4 else socket.AF_INET6
        listening = {h: m for h, m in self.open.items() if m.listening}
        handles = list(listening)
        reached = coexistence.receivers([m.binding() for m in listening.values()], client)
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(CONNECT_DEADLINE)
            observed = answer(lambda: sock.connect((target, self.port)))
            if observed == "ok":
                ready, _, _ = select.select([m.sock for m in listening.values()], [], [], CONNECT_DEADLINE)
                got = [h for h in handles if listening[h].sock in ready]
                for h in got:
                    conn, _ = listening[h].sock.accept()
                    sock.close()
                    conn.close()
                observed = "ok" if got and got[0] in [handles[i] for i in reached] else f"reached {got}"
        self.check(f"socket.create_connection(({target!r}, P), timeout=5).close()", observed,
                   "ok" if reached else "ECONNREFUSED")

    @rule(handle=consumes(sockets))
    def close(self, handle):
        m = self.open.pop(handle, None)
        if m is not None:
            m.sock.close()
            self.calls.append(f"s{handle}.close()")
        if handle in self.udp_order:
            self.udp_order.remove(handle)
        if not any(o.address is not None for o in self.open.values()):
            self.bucket = None  # the kernel frees the bucket with its last owner

    def teardown(self):
        for m in self.open.values():
            m.sock.close()
        self.open.clear()
        self.reservation.close()


def machine_for(proto: str, rules: coexistence.Rules = coexistence.LINUX,
                errnos: dict[str, str] | None = None) -> type[SocketCalls]:
    """A state machine of its own for one protocol and rule set, with fresh statistics."""
    return type(f"SocketCalls_{proto}", (SocketCalls,), {
        "proto": proto, "rules_": rules, "errnos": errnos or ERRNO_FACTS,
        "examples": 0, "exercised": Counter(), "last_calls": []})


def inverted(rule_name: str, proto: str = "tcp") -> type[SocketCalls]:
    """A machine whose model has one rule turned around: it must be caught."""
    flipped = replace(coexistence.LINUX, **{rule_name: not getattr(coexistence.LINUX, rule_name)})
    machine = machine_for(proto, flipped)
    machine.__name__ = f"SocketCalls_without_{rule_name}"
    return machine


# --- the family ------------------------------------------------------------------------

def scenarios() -> Iterator[Scenario]:
    for proto in ("tcp", "udp"):
        yield Scenario.of(NAME, proto=proto, check="state-machine")


def expect(s: Scenario, r: Reasoning) -> None:
    require(r, ipv6_socket=True, ipv4=True)
    if not r.machine.has_ipv6:
        r.rule("ipv6-loopback-missing")
        r.fail(Outcome.UNSUPPORTED, kind=SKIPPED)
    if r.fact("coexistence_rules").value != "linux":
        raise Unknown("no coexistence rules the machine can walk")
    r.rule("coexist-dualstack-overlaps")
    for fact in coexistence.RULE_FACTS:
        r.fact(fact)
    for fact in ERRNO_FACTS:
        r.maybe_fact(fact)
    r.expectation.outcome = (Outcome.OK,)
    r.expect("value", AGREES)


def why_not_here(machine: Machine, platform: Platform | None, proto: str) -> str | None:
    """Why the walk cannot run here, if it cannot: it checks the answers against the
    coexistence rules a platform documents, on a dual-stack machine with ::1."""
    if platform is None or coexistence.rules_of(platform) is None:
        return "no coexistence rules are documented for this platform: nothing to walk against"
    if not (machine.af_inet6 and machine.has_ipv6 and machine.default_v6only.get(proto) == 0):
        return ("the walk models a dual-stack machine with ::1 and IPV6_V6ONLY defaulting to 0 "
                "(it runs in dualstack run's default variant on such a machine)")
    return None


def documented_errnos(platform: Platform | None) -> dict[str, str]:
    """ERRNO_FACTS with each value the platform documents put in its place."""
    documented = {key: platform.fact(key) if platform else None for key in ERRNO_FACTS}
    return {key: str(fact.value) if fact is not None else ERRNO_FACTS[key] for key, fact in documented.items()}


def walk(machine: type[SocketCalls]) -> Observation:
    """Run the state machine under the current Hypothesis profile and say what it found."""
    profile = settings()
    observation = Observation(outcome=Outcome.OK, value=AGREES)
    try:
        run_state_machine_as_test(machine, settings=settings(
            profile, phases=[p for p in Phase if p is not Phase.explain]))
    except AssertionError as mismatch:
        observation.value = str(mismatch).splitlines()[0]
        observation.calls = list(machine.last_calls)
    rules_run = ", ".join(f"{name} {count}" for name, count in sorted(machine.exercised.items()))
    observation.notes = [f"{machine.examples} examples of up to {profile.stateful_step_count} steps",
                         f"calls checked: {rules_run}"]
    return observation


def observe(s: Scenario, machine: Machine, platform: Platform | None) -> Observation:
    reason = why_not_here(machine, platform, s.proto)
    if reason is not None or platform is None:
        return Observation(outcome=Outcome.UNSUPPORTED, stage="precondition", notes=[reason or ""])
    rules = coexistence.rules_of(platform)
    assert rules is not None
    return walk(machine_for(s.proto, rules, documented_errnos(platform)))


def reproducer(s: Scenario) -> str:
    return ("# the state machine of conformance/families/model.py, for this protocol:\n"
            f"#   dualstack run --cells 'model/{s.proto}/*'\n"
            "# a counterexample's socket calls are recorded as this cell's reproducer\n")
