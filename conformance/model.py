"""The platform model: what a platform documents for a scenario.

Pure functions. Inputs: a scenario, the platform's documented facts (a data file in
conformance/data/expectations/), the general rules (conformance/data/rules.toml) and
the facts measured on this machine (preconditions only: whether AF_INET6 sockets
exist, whether ::1 is configured, the knob that sets the default). Output: an
Expectation holding the values this platform documents and every reason with its
source. A platform without a data file, or a field nobody documents, gives no
expectation, and the cell is recorded as informational.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from conformance import coexistence
from conformance.catalogue import expectation_files, load_toml, tomllib
from conformance.facts import Facts
from conformance.scenario import Scenario, is_ipv6, subject_spec

# Verdict the cell gets when its observation matches (see conformance/verdict.py).
ASSERT, UNSUPPORTED, SKIPPED, INFORMATIONAL = "conforms", "unsupported", "skipped", "informational"


@dataclass(frozen=True)
class Reason:
    because: str
    source: str


@dataclass(frozen=True)
class Fact:
    value: Any
    because: str
    source: str
    confidence: str = "high"
    extra: tuple = ()

    @property
    def asserted(self) -> bool:
        return self.confidence != "low"

    def get(self, key: str, default=None):
        return dict(self.extra).get(key, default)


@dataclass(frozen=True)
class Platform:
    os: str
    name: str
    facts: dict

    def fact(self, key: str) -> Fact | None:
        return self.facts.get(key)


@dataclass
class Expectation:
    """What the platform documents. ``outcome`` is the set of acceptable outcomes;
    ``fields`` maps observation fields to their documented values."""

    kind: str = ASSERT
    outcome: tuple[str, ...] | None = None
    errno: str | None = None
    fields: dict = field(default_factory=dict)
    reasons: list[Reason] = field(default_factory=list)

    def as_dict(self) -> dict:
        out: dict[str, Any] = {}
        if self.outcome is not None:
            out["outcome"] = self.outcome[0] if len(self.outcome) == 1 else list(self.outcome)
        if self.errno is not None:
            out["errno"] = self.errno
        out.update(self.fields)
        out["because"] = " ".join(r.because for r in self.reasons)
        out["source"] = self.reasons[0].source if self.reasons else None
        out["sources"] = list(dict.fromkeys(r.source for r in self.reasons))
        return out


class PlatformError(Exception):
    """An expectations file that cannot be used; str() is a one-line message."""


def platform_from_data(data: dict, origin: str = "expectations") -> Platform:
    facts = {}
    known = {"value", "because", "source", "confidence"}
    for key, spec in data.get("facts", {}).items():
        missing = [k for k in ("value", "because", "source") if k not in spec]
        if missing:
            raise PlatformError(f"{origin}: fact {key!r} lacks {', '.join(missing)}")
        extra = tuple(sorted((k, v) for k, v in spec.items() if k not in known))
        facts[key] = Fact(spec["value"], spec["because"], spec["source"],
                          spec.get("confidence", "high"), extra)
    if "os" not in data:
        raise PlatformError(f"{origin}: no 'os' key")
    return Platform(os=data["os"], name=data.get("name", data["os"]), facts=facts)


@cache
def load_platform(os: str, folder: str | None = None) -> Platform | None:
    """The platform's documented facts; from ``folder`` instead of the packaged
    expectations when given (to try out an edited expectations file)."""
    if folder is not None:
        path = Path(folder) / f"{os}.toml"
        if not path.exists():
            return None
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise PlatformError(f"{path}: not a readable TOML file ({exc})") from exc
        return platform_from_data(data, str(path))
    if os not in expectation_files():
        return None
    return platform_from_data(load_toml(f"expectations/{os}.toml"))


@cache
def rules() -> dict[str, Reason]:
    return {rid: Reason(r["because"], r["source"]) for rid, r in load_toml("rules.toml").items()}


class Unknown(Exception):
    """The platform documents nothing that decides this cell."""


class Stop(Exception):
    """The expectation is complete before the last step (a documented failure)."""


class Reasoning:
    """Collects the reasons behind one expectation while the model walks a scenario."""

    def __init__(self, platform: Platform | None, facts: Facts):
        self.platform, self.facts = platform, facts
        self.expectation = Expectation()

    def rule(self, rule_id: str) -> None:
        reason = rules()[rule_id]
        if reason not in self.expectation.reasons:
            self.expectation.reasons.append(reason)

    def fact(self, key: str) -> Fact:
        """A documented fact; Unknown when the platform documents nothing for it."""
        fact = self.maybe_fact(key)
        if fact is None:
            raise Unknown(key)
        return fact

    def maybe_fact(self, key: str) -> Fact | None:
        fact = self.platform.fact(key) if self.platform else None
        if fact is not None:
            reason = Reason(fact.because, fact.source)
            if reason not in self.expectation.reasons:
                self.expectation.reasons.append(reason)
        return fact

    def expect(self, name: str, value: Any) -> None:
        self.expectation.fields[name] = value

    def fail(self, outcome: str | tuple[str, ...], errno_fact: str | None = None, *, kind: str = ASSERT,
             errno: str | None = None) -> None:
        """The cell ends in a documented failure: stop reasoning here."""
        exp = self.expectation
        exp.kind = kind
        exp.outcome = outcome if isinstance(outcome, tuple) else (outcome,)
        if errno_fact is not None:
            fact = self.maybe_fact(errno_fact)
            if fact is not None and fact.asserted:
                exp.errno = fact.value
        if errno is not None:
            exp.errno = errno
        raise Stop()

    def default_v6only(self, proto: str) -> int:
        """The documented default, read from the platform knob where there is one."""
        fact = self.fact("default_v6only")
        knob = fact.get("knob")
        value = self.facts.knobs.get(knob) if knob else None
        if value is not None and value.strip().isdigit():
            return int(bool(int(value)))
        return int(fact.value)

    def v6only(self, setting: str | None, proto: str, failure: str) -> int:
        """The IPV6_V6ONLY a socket ends up with after the catalogue setting is applied."""
        if setting in (None, "default"):
            return self.default_v6only(proto)
        allowed = self.fact("v6only_values")
        if int(setting) not in allowed.value:
            self.fail(failure, kind=UNSUPPORTED, errno=allowed.get("errno"))
        self.rule("v6only-reads-back")
        return int(setting)


def expect(scenario: Scenario, platform: Platform | None, facts: Facts) -> Expectation:
    """The expectation for one scenario; kind INFORMATIONAL when nothing decides it."""
    reasoning = Reasoning(platform, facts)
    try:
        MODELS[scenario.family](scenario, reasoning)
    except Stop:
        pass
    except Unknown:
        kind = reasoning.expectation.kind
        if kind in (UNSUPPORTED, SKIPPED):
            return reasoning.expectation
        return Expectation(kind=INFORMATIONAL, reasons=reasoning.expectation.reasons)
    if platform is None and reasoning.expectation.kind == ASSERT:
        return Expectation(kind=INFORMATIONAL)
    return reasoning.expectation


# --- preconditions ------------------------------------------------------------------

def require(r: Reasoning, *, ipv6_socket: bool = False, ipv4: bool = False) -> None:
    """Turn a missing precondition on this machine into unsupported."""
    if ipv6_socket and not r.facts.af_inet6:
        r.rule("af-inet6-missing")
        r.fail("unsupported", kind=UNSUPPORTED)
    if ipv4 and not r.facts.has_ipv4:
        r.rule("ipv4-missing")
        r.fail("unsupported", kind=UNSUPPORTED)


# --- connect family -----------------------------------------------------------------

# What a server bound to each address does with a client of each IP version. Values:
# (accepted?, rule id). "::" depends on the effective v6only and is decided in code.
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
CLIENT_IP_VERSION = {"ipv4": 4, "mapped": 4, "ipv6": 6}
CLIENT_NAME = {"ipv4": "127.0.0.1", "mapped": "::ffff:127.0.0.1", "ipv6": "::1"}


def ipv6_bind(r: Reasoning, address: str, setting: str | None, proto: str) -> int:
    """An AF_INET6 socket given the v6only setting and bound to address: its v6only,
    or a documented failure to set the option or to bind."""
    v6only = r.v6only(setting, proto, "option-error")
    r.expect("v6only_set", v6only)
    if address == "::ffff:127.0.0.1":
        if not r.fact("mapped_supported").value:
            r.fail("bind-error", "bind_mapped_on_v6only", kind=UNSUPPORTED)
        if v6only:
            r.rule("v6only-blocks-mapped-bind")
            r.fail("bind-error", "bind_mapped_on_v6only")
    if address == "::1" and not r.facts.has_ipv6:
        r.rule("ipv6-loopback-missing")
        r.fail("bind-error", "bind_missing_address")
    return v6only


def connect_failure(errno: Fact | None) -> tuple[str, ...] | str:
    """The outcome(s) of a failed TCP connect, from the documented errno if trusted."""
    if errno is None or not errno.asserted:
        return ("unreachable", "connect-error")
    return "unreachable" if errno.value in ("ENETUNREACH", "EHOSTUNREACH") else "connect-error"


def model_connect(s: Scenario, r: Reasoning) -> None:
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
        client_v6only = r.v6only(s.get("client_v6only"), proto, "option-error")
        r.expect("client_v6only", client_v6only)
        if client_v6only:
            r.rule("v6only-client-cannot-use-mapped")
            if proto == "tcp":
                r.fail(connect_failure(r.maybe_fact("connect_mapped_from_v6only")),
                       "connect_mapped_from_v6only")
            r.fail("send-error", "send_mapped_from_v6only")
        r.rule("mapped-client-is-ipv4")
    elif client == "ipv6":
        if not r.facts.has_ipv6:
            r.fact("connect_without_ipv6_address")
            r.rule("ipv6-loopback-missing")
            r.fail("connect-error" if proto == "tcp" else "send-error", "connect_without_ipv6_address")
        r.expect("client_v6only", r.default_v6only(proto))

    version = CLIENT_IP_VERSION[client]
    if bind == "::" and version == 4:
        accepted = server_v6only == 0
        r.rule("dualstack-wildcard-accepts-ipv4" if accepted else "v6only-wildcard-refuses-ipv4")
    else:
        accepted, rule_id = ACCEPTS[(bind, version)]
        r.rule(rule_id)

    if not accepted:
        if proto == "tcp":
            r.rule("tcp-refused")
            r.fail("refused", errno="ECONNREFUSED")
        r.rule("udp-not-delivered")
        r.fail("not-delivered")

    r.expectation.outcome = ("ok",)
    peer = ("::ffff:127.0.0.1" if version == 4 else "::1") if server_v6 else "127.0.0.1"
    r.expect("peer", peer)
    if proto == "tcp":
        r.rule("local-names")
        r.expect("accepted_name", peer)
        r.expect("client_name", CLIENT_NAME[client])
    else:
        r.rule("udp-reply-path")
        r.expect("reply", True)


# --- options family -----------------------------------------------------------------

def model_options(s: Scenario, r: Reasoning) -> None:
    check, proto = s["check"], s.proto
    if check == "set-v6only-on-af-inet":
        require(r, ipv4=True)
        if not r.fact("v6only_on_af_inet").asserted:
            raise Unknown("v6only_on_af_inet")
        r.fail("option-error", "v6only_on_af_inet")
    if check == "has-dualstack-ipv6":  # meaningful without AF_INET6 too: it must say False
        r.rule("python-has-dualstack")
        r.expectation.outcome = ("ok",)
        r.expect("value", r.facts.has_mapped)
        return
    require(r, ipv6_socket=True)
    if check == "default-v6only":
        r.expectation.outcome = ("ok",)
        r.expect("value", r.default_v6only(proto))
    elif check == "set-v6only":
        if s["after"] == "connect" and not r.facts.has_ipv6:  # the peer it connects to lives on ::1
            r.rule("ipv6-loopback-missing")
            r.fail("bind-error", "bind_missing_address", kind=SKIPPED)
        r.expect("value", r.default_v6only(proto))
        fact = r.fact("set_v6only_after_bind")
        if not fact.asserted:
            raise Unknown("set_v6only_after_bind")
        r.fail("option-error", "set_v6only_after_bind")
    elif check == "create-server":
        r.rule("python-create-server")
        dualstack = s["dualstack_ipv6"] == "true"
        if dualstack and not r.fact("mapped_supported").value:
            r.fail("unsupported", kind=UNSUPPORTED)
        r.expectation.outcome = ("ok",)
        r.expect("value", 0 if dualstack else 1)


# --- coexist family -----------------------------------------------------------------

SOCKET_NAMES = {0: "ipv4-socket", 1: "ipv6-socket"}


def model_coexist(s: Scenario, r: Reasoning) -> None:
    proto, reuse, ipv6 = s.proto, s["reuse"], s["ipv6"]
    require(r, ipv6_socket=True, ipv4=True)
    if reuse != "none" and reuse not in r.fact("socket_options").value:
        r.rule("option-missing")
        r.fail("unsupported", kind=UNSUPPORTED)
    v6only = ipv6_bind(r, ipv6, s["v6only"], proto)
    flags = {"reuseaddr": reuse == "SO_REUSEADDR", "reuseport": reuse == "SO_REUSEPORT"}
    v4 = coexistence.Binding(4, s["ipv4"], **flags)
    v6 = coexistence.Binding(6, ipv6, v6only=v6only, **flags)
    if coexistence.overlap(v4, v6):
        r.rule("coexist-dualstack-overlaps")
        if r.fact("coexistence_rules").value != "linux":
            raise Unknown("coexistence_rules")
        first, second = (v4, v6) if s["order"] == "ipv4-first" else (v6, v4)
        if coexistence.bind_conflict(first, second, proto):
            r.fail("bind-error", errno="EADDRINUSE")
        if proto == "tcp" and coexistence.listen_conflict([first.listen()], second):
            r.fail("listen-error", errno="EADDRINUSE")
    else:
        r.rule("coexist-without-overlap")
    r.rule("coexist-receiver")
    r.expectation.outcome = ("ok",)
    bound = [v4.listen(), v6.listen()]
    clients = ["ipv4", "ipv6"] if r.facts.has_ipv6 else ["ipv4"]
    for client in clients:
        reached = coexistence.receivers(bound, client)
        if len(reached) == 1 or not reached:
            r.expect(f"{client}_to", SOCKET_NAMES[reached[0]] if reached else "nobody")


# --- names family -------------------------------------------------------------------

IPADDRESS_MIXED_SINCE = (3, 13)


def model_names(s: Scenario, r: Reasoning) -> None:
    check = s["check"]
    if check == "passive-order":
        r.rule("getaddrinfo-passive")
        raise Unknown("the order is the C library's")
    if check in ("localhost", "ai-all"):
        r.rule("getaddrinfo-localhost")
        raise Unknown("hosts file")
    if check == "inet-pton-mapped":
        r.rule("inet-pton-mapped")
        r.expect("value", "00000000000000000000ffff7f000001")
    elif check == "ipaddress-ipv4-mapped":
        r.rule("python-ipaddress-mapped")
        r.expect("value", ["127.0.0.1"] * 3)
    elif check == "ipaddress-str":
        r.rule("python-ipaddress-str")
        if tuple(r.facts.python) < IPADDRESS_MIXED_SINCE:
            raise Unknown("before 3.13 a backport may or may not be there")
        r.expect("value", "::ffff:127.0.0.1")
    elif check == "ai-v4mapped":
        fact = r.fact("ai_v4mapped")
        r.expect("value", fact.value)
    elif check == "inet-ntop-mapped":
        r.expect("value", r.fact("inet_ntop_mapped").value)
    elif check == "bind-127.0.0.2":
        require(r, ipv4=True)
        if not r.fact("loopback_is_slash8").asserted:
            raise Unknown("loopback_is_slash8")
        if not r.fact("loopback_is_slash8").value:
            r.fail("bind-error", "bind_missing_address")
        r.expect("value", "127.0.0.2")
    r.expectation.outcome = ("ok",)


# --- subjects family ----------------------------------------------------------------

SUBJECT_RESOLVE = {"ok": lambda dual: "ok", "refused": lambda dual: "refused",
                   "os-default": lambda dual: "ok" if dual else "refused"}


def model_subjects(s: Scenario, r: Reasoning) -> None:
    spec = subject_spec(s)
    r.expectation.reasons.append(Reason(spec["because"], spec["source"]))
    if "expect" not in spec:
        raise Unknown("the subject documents nothing")
    if not (r.facts.af_inet6 and r.facts.has_ipv6):
        raise Unknown("the subjects are documented for machines with IPv6 on loopback")
    default = r.default_v6only(s.proto)
    if spec.get("starts") == "unless-dualstack-default" and default == 0:
        r.fail("start-error")
    clients = {family: SUBJECT_RESOLVE[spec["expect"][family]](default == 0) for family in ("ipv4", "ipv6")}
    if default == 0:
        clients["mapped"] = clients["ipv4"]
    else:  # the mapped client, left at the default, is v6-only itself
        fact = r.maybe_fact("connect_mapped_from_v6only")
        if fact is not None and fact.asserted:
            clients["mapped"] = "unreachable" if fact.value in ("ENETUNREACH", "EHOSTUNREACH") else f"error:{fact.value}"
    r.expectation.outcome = ("ok",)
    r.expect("clients", clients)


MODELS = {
    "connect": model_connect,
    "options": model_options,
    "coexist": model_coexist,
    "names": model_names,
    "subjects": model_subjects,
}
