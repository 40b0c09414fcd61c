"""Model-based exploration: random sequences of socket calls on one shared port, each
kernel answer checked against the platform model (conformance/coexistence.py).

``SocketCalls`` is a Hypothesis state machine. It creates AF_INET and AF_INET6
sockets, sets IPV6_V6ONLY and the reuse options, binds them to loopback and wildcard
addresses on the shared port, listens, connects and closes, in random order. When a
kernel answer differs from the model, Hypothesis shrinks the run to a short sequence of
socket calls that shows it.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
from dataclasses import dataclass, replace

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, precondition, rule

from conformance import coexistence, ports

ADDRESSES = {4: ["0.0.0.0", "127.0.0.1"], 6: ["::", "::1", "::ffff:127.0.0.1"]}
CONNECT_DEADLINE = 5.0


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

    sockets = Bundle("sockets")

    def __init__(self):
        super().__init__()
        self.proto = "tcp"
        self.reservation = contextlib.ExitStack()
        self.port = self.reservation.enter_context(ports.free())
        self.open: dict[int, Modelled] = {}
        self.next_id = 0
        self.bucket: coexistence.Bucket | None = None  # TCP only; None while the port has no owner
        self.udp_order: list[int] = []  # UDP only: the port's sockets in the kernel's list order

    @initialize(proto=st.sampled_from(["tcp", "udp"]))
    def choose_protocol(self, proto):
        self.proto = proto

    def others(self, handle: int) -> list[coexistence.Binding]:
        return [m.binding() for h, m in self.open.items() if h != handle and m.address is not None]

    def check(self, call: str, observed: str, expected: str) -> None:
        assert observed == expected, f"{call}: the kernel answered {observed}, the model says {expected}"

    @rule(target=sockets, family=st.sampled_from([4, 6]), reuse=st.sampled_from(["none", "SO_REUSEADDR", "SO_REUSEPORT"]))
    def create(self, family, reuse):
        """A new socket, with a reuse option set at once, as servers do."""
        kind = socket.SOCK_STREAM if self.proto == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET if family == 4 else socket.AF_INET6, kind)
        handle, self.next_id = self.next_id, self.next_id + 1
        m = self.open[handle] = Modelled(family, sock, v6only=self.default_v6only if family == 6 else 0)
        if reuse != "none":
            self.check(f"setsockopt({reuse})",
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
            expected = "ENOPROTOOPT"
        elif m.address is not None:
            expected = "EINVAL"
        else:
            expected = "ok"
            m.v6only = value
        self.check(f"setsockopt(IPV6_V6ONLY, {value})", observed, expected)

    @rule(handle=sockets, address=st.sampled_from(ADDRESSES[4] + ADDRESSES[6]))
    def bind(self, handle, address):
        m = self.open.get(handle)
        if m is None or address not in ADDRESSES[m.family]:
            return
        observed = answer(lambda: m.sock.bind((address, self.port)))
        new = m.binding(address=address)
        if m.address is not None:
            expected = "EINVAL"
        elif address.startswith(coexistence.MAPPED_PREFIX) and m.v6only:
            expected = "EINVAL"
        elif self.bind_conflict(handle, new):
            expected = "EADDRINUSE"
        else:
            expected = "ok"
            m.address = address
            m.v6only = new.effective_v6only
            self.owned(new)
            if self.proto == "udp":
                self.udp_order = coexistence.udp_list_insert(self.udp_order, handle, new)
        self.check(f"bind(({address!r}, port))", observed, expected)

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
            expected = "EADDRINUSE"
        self.check("listen()", observed, expected)

    @precondition(lambda self: self.proto == "tcp")
    @rule(client=st.sampled_from(["ipv4", "ipv6"]))
    def connect(self, client):
        family, target = (socket.AF_INET, "127.0.0.1") if client == "ipv4" else (socket.AF_INET6, "::1")
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
        self.check(f"connect({target!r}, port)", observed, "ok" if reached else "ECONNREFUSED")

    @rule(handle=consumes(sockets))
    def close(self, handle):
        m = self.open.pop(handle, None)
        if m is not None:
            m.sock.close()
        if handle in self.udp_order:
            self.udp_order.remove(handle)
        if not any(o.address is not None for o in self.open.values()):
            self.bucket = None  # the kernel frees the bucket with its last owner

    def teardown(self):
        for m in self.open.values():
            m.sock.close()
        self.open.clear()
        self.reservation.close()


def inverted(rule_name: str) -> type[SocketCalls]:
    """A machine whose model has one rule turned around: it must be caught."""
    class Inverted(SocketCalls):
        rules_ = replace(coexistence.LINUX, **{rule_name: not getattr(coexistence.LINUX, rule_name)})
    Inverted.__name__ = f"SocketCalls_without_{rule_name}"
    return Inverted
