"""Which bound sockets collide on one port, and which one a client reaches.

Pure functions over a small description of bound sockets, used by the coexist family
(two sockets) and the model-based state machine (many). The rules are Linux's,
read from net/ipv4/inet_connection_sock.c (inet_csk_bind_conflict, ipv6_rcv_saddr_equal)
and net/ipv4/udp.c (udp_lib_lport_inuse), and checked against measurements; a
platform opts in with its `coexistence_rules` fact.

UDP checks the sockets of the port in list order and stops at the first one that
overlaps: if that one shares SO_REUSEPORT with the new socket, the bind succeeds without
looking further (udp_lib_lport_inuse); an AF_INET6 socket with SO_REUSEPORT is appended
to the list, every other socket is put in front (udp_lib_get_port). ``udp_bind_conflict``
models that order.

TCP also keeps, per port, the "fast path" of its bind bucket (``Bucket``): once a
SO_REUSEPORT socket has been bound, a later SO_REUSEPORT socket whose address matches
the remembered one skips the conflict check altogether, even against a third socket
without SO_REUSEPORT that it overlaps. The state machine found this (kernel 6.18:
::1 without options, then 0.0.0.0 and :: both with SO_REUSEPORT, all bind); it is
modelled from inet_csk_update_fastreuse() and sk_reuseport_match().
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from conformance.platform_model import Platform

WILDCARDS = {"0.0.0.0", "::"}
MAPPED_PREFIX = "::ffff:"
# The IPv4 address Linux records for a socket bound to a specific IPv6 address, so that
# it never equals a real one (LOOPBACK4_IPV6 in __inet6_bind).
LOOPBACK4_IPV6 = "127.0.0.6"


@dataclass(frozen=True)
class Binding:
    """A socket bound to the shared port."""

    family: int  # 4 or 6
    address: str
    v6only: int = 0  # effective IPV6_V6ONLY (AF_INET6 only)
    reuseaddr: bool = False
    reuseport: bool = False
    listening: bool = False

    @property
    def ipv4_claim(self) -> str | None:
        """The IPv4 address this socket takes on the port, if any."""
        if self.family == 4:
            return self.address
        if self.address.startswith(MAPPED_PREFIX):
            return self.address[len(MAPPED_PREFIX):]
        if self.address == "::" and not self.v6only:
            return "0.0.0.0"
        return None

    @property
    def ipv6_claim(self) -> str | None:
        if self.family == 6 and not self.address.startswith(MAPPED_PREFIX):
            return self.address
        return None

    @property
    def effective_v6only(self) -> int:
        """Linux marks a socket bound to a specific IPv6 address v6-only."""
        specific = self.family == 6 and self.address not in WILDCARDS and not self.address.startswith(MAPPED_PREFIX)
        return 1 if specific else self.v6only

    @property
    def rcv_saddr(self) -> str:
        """The IPv4 receive address the kernel keeps for the socket."""
        claim = self.ipv4_claim
        if claim is not None:
            return claim
        return "0.0.0.0" if self.address == "::" else LOOPBACK4_IPV6

    def listen(self) -> Binding:
        return replace(self, listening=True)


@dataclass(frozen=True)
class Rules:
    """The Linux rules; each switch exists so a test can invert one rule and watch the
    state machine catch it."""

    dualstack_takes_ipv4: bool = True  # a :: socket with v6only 0 claims 0.0.0.0 too
    reuseaddr_shares_until_listen: bool = True  # TCP SO_REUSEADDR: both bind, second listen fails
    reuseport_shares: bool = True  # SO_REUSEPORT on both (same user): both bind and listen


LINUX = Rules()
# Each switch is a fact of the platform's expectations file, with its source, so that an
# edited expectations folder (dualstack run --expectations) can turn a rule around.
RULE_FACTS = tuple(Rules.__dataclass_fields__)


def rules_of(platform: Platform) -> Rules | None:
    """The Linux-family rules as the platform documents them; None when it documents no
    such rules (its coexist cells are then not decided by this model)."""
    kind = platform.fact("coexistence_rules")
    if kind is None or kind.value != "linux":
        return None
    switches = {name: platform.fact(name) for name in RULE_FACTS}
    return Rules(**{name: bool(fact.value) for name, fact in switches.items() if fact is not None})


def _claims_overlap(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and (a == b or a in WILDCARDS or b in WILDCARDS)


def overlap(a: Binding, b: Binding, rules: Rules = LINUX) -> bool:
    def ipv4(x: Binding):
        claim = x.ipv4_claim
        if not rules.dualstack_takes_ipv4 and x.family == 6 and x.address == "::":
            return None
        return claim
    return _claims_overlap(ipv4(a), ipv4(b)) or _claims_overlap(a.ipv6_claim, b.ipv6_claim)


def bind_conflict(existing: Binding, new: Binding, proto: str, rules: Rules = LINUX) -> bool:
    """Does binding ``new`` fail with EADDRINUSE because ``existing`` holds the port?"""
    if not overlap(existing, new, rules):
        return False
    if rules.reuseport_shares and existing.reuseport and new.reuseport:
        return False
    if existing.reuseaddr and new.reuseaddr:
        if proto == "udp" or (rules.reuseaddr_shares_until_listen and not existing.listening):
            return False
    return True


def udp_bind_conflict(ordered: list[Binding], new: Binding, rules: Rules = LINUX) -> bool:
    """UDP bind on Linux: the first overlapping socket in the port's list decides."""
    for other in ordered:
        if (other.reuseaddr and new.reuseaddr) or not overlap(other, new, rules):
            continue
        return not (rules.reuseport_shares and other.reuseport and new.reuseport)
    return False


def udp_list_insert(ordered: list, item, binding: Binding) -> list:
    """Where udp_lib_get_port() puts a newly bound socket in the port's list."""
    return [*ordered, item] if binding.family == 6 and binding.reuseport else [item, *ordered]


def listen_conflict(others: list[Binding], new: Binding, rules: Rules = LINUX) -> bool:
    """Does listen() on ``new`` fail with EADDRINUSE? (TCP only)"""
    return any(o.listening and overlap(o, new, rules)
               and not (rules.reuseport_shares and o.reuseport and new.reuseport) for o in others)


def receivers(listening: list[Binding], client: str) -> list[int]:
    """Indexes of the sockets that may receive a client ("ipv4" to 127.0.0.1 or "ipv6"
    to ::1): the most specific address wins, then an AF_INET socket over a dual-stack
    one for IPv4; ties within a SO_REUSEPORT group are split by hash."""
    scored = []
    for index, b in enumerate(listening):
        claim = b.ipv4_claim if client == "ipv4" else b.ipv6_claim
        target = "127.0.0.1" if client == "ipv4" else "::1"
        if claim == target or claim in WILDCARDS:
            scored.append(((claim == target, b.family == 4 and client == "ipv4"), index))
    if not scored:
        return []
    best = max(score for score, _ in scored)
    return [index for score, index in scored if score == best]


# --- the TCP bind bucket's fast path (Linux) ------------------------------------------

FASTREUSEPORT_OFF, FASTREUSEPORT_ANY, FASTREUSEPORT_STRICT = 0, 1, 2


@dataclass(frozen=True)
class Bucket:
    """The per-port state Linux keeps for TCP binds (struct inet_bind_bucket)."""

    fastreuse: bool = False
    fastreuseport: int = FASTREUSEPORT_OFF
    fast: Binding | None = None  # the socket whose address the STRICT fast path compares with


def _saddr_equal(sk1: Binding, sk2: Binding) -> bool:
    """ipv6_rcv_saddr_equal / ipv4_rcv_saddr_equal as sk_reuseport_match calls them
    (sk1's wildcard matches, sk2's does not)."""
    if sk1.family == 4:
        if sk2.effective_v6only:
            return False
        return sk1.rcv_saddr == sk2.rcv_saddr or sk1.rcv_saddr == "0.0.0.0"
    type1 = "mapped" if sk1.address.startswith(MAPPED_PREFIX) else ("any" if sk1.address == "::" else "unicast")
    type2 = "mapped" if sk2.family == 4 or sk2.address.startswith(MAPPED_PREFIX) else (
        "any" if sk2.address == "::" else "unicast")
    if type1 == type2 == "mapped":
        if sk2.effective_v6only:
            return False
        return sk1.rcv_saddr == sk2.rcv_saddr or sk1.rcv_saddr == "0.0.0.0"
    if type1 == type2 == "any":
        return True
    if type1 == "any" and not (sk1.effective_v6only and type2 == "mapped"):
        return True
    return sk2.family == 6 and sk1.address == sk2.address


def fast_path(bucket: Bucket, new: Binding, rules: Rules = LINUX) -> bool:
    """Does the bind (or listen) of ``new`` skip the conflict check? Only meaningful
    while the port has owners."""
    if rules.reuseaddr_shares_until_listen and bucket.fastreuse and new.reuseaddr and not new.listening:
        return True
    if not (rules.reuseport_shares and new.reuseport) or bucket.fastreuseport == FASTREUSEPORT_OFF:
        return False
    if bucket.fastreuseport == FASTREUSEPORT_ANY:
        return True
    return bucket.fast is not None and _saddr_equal(bucket.fast, new)


def after_bind(bucket: Bucket | None, new: Binding, rules: Rules = LINUX) -> Bucket:
    """The bucket once ``new`` is bound or listening; None means the port had no owner."""
    reuse = new.reuseaddr and not new.listening
    if bucket is None:
        return Bucket(reuse, FASTREUSEPORT_ANY if new.reuseport else FASTREUSEPORT_OFF,
                      new if new.reuseport else None)
    fastreuse = bucket.fastreuse and reuse
    if not new.reuseport:
        return Bucket(fastreuse, FASTREUSEPORT_OFF, None)
    if fast_path(replace(bucket, fastreuse=False), new, rules):
        return replace(bucket, fastreuse=fastreuse)
    return Bucket(fastreuse, FASTREUSEPORT_STRICT, new)
