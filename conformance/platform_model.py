"""The platform model: what a platform documents, and the reasoning steps every family
uses to turn it into an expectation.

Pure functions. Inputs: the platform's documented facts (a data file in
conformance/data/expectations/), the general rules (conformance/data/rules.toml) and
what was measured on this machine (conformance/machine.py: preconditions only, such as
whether AF_INET6 sockets exist, whether ::1 is configured, the knob that sets the
default). Each family (conformance/families/) walks its scenario through a Reasoning,
which collects the values this platform documents and every reason with its source. A
platform without a data file, or a field nobody documents, gives no expectation, and
the cell is recorded as informational.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from conformance.datafiles import expectation_files, load_toml, tomllib
from conformance.machine import Machine
from conformance.vocabulary import Outcome, Verdict, v6only

UNREACHABLE_ERRNOS = ("ENETUNREACH", "EHOSTUNREACH")
# The verdict a cell gets when its observation matches (see conformance/verdict.py).
ASSERT, UNSUPPORTED, SKIPPED, INFORMATIONAL = (Verdict.CONFORMS, Verdict.UNSUPPORTED, Verdict.SKIPPED,
                                               Verdict.INFORMATIONAL)


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
    extra: tuple[tuple[str, Any], ...] = ()  # further keys of the fact, such as knob or errno

    @property
    def asserted(self) -> bool:
        return self.confidence != "low"

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.extra).get(key, default)


@dataclass(frozen=True)
class Platform:
    os: str
    name: str
    facts: dict[str, Fact]

    def fact(self, key: str) -> Fact | None:
        return self.facts.get(key)


@dataclass
class Expectation:
    """What the platform documents. ``outcome`` is the set of acceptable outcomes;
    ``fields`` maps observation fields to their documented values."""

    kind: str = ASSERT
    outcome: tuple[str, ...] | None = None
    errno: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    reasons: list[Reason] = field(default_factory=list)
    confidence: str = "high"  # "low": the sources decide it only indirectly; recorded, not asserted

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.outcome is not None:
            out["outcome"] = self.outcome[0] if len(self.outcome) == 1 else list(self.outcome)
        if self.errno is not None:
            out["errno"] = self.errno
        out.update(self.fields)
        out["because"] = " ".join(r.because for r in self.reasons)
        out["source"] = self.reasons[0].source if self.reasons else None
        out["sources"] = list(dict.fromkeys(r.source for r in self.reasons))
        if self.confidence != "high":
            out["confidence"] = self.confidence
        return out


class PlatformError(Exception):
    """An expectations file that cannot be used; str() is a one-line message."""


def platform_from_data(data: dict[str, Any], origin: str = "expectations") -> Platform:
    facts: dict[str, Fact] = {}
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

    def __init__(self, platform: Platform | None, machine: Machine):
        self.platform, self.machine = platform, machine
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

    def reason(self, because: str, source: str) -> None:
        """A reason that is neither a general rule nor a platform fact (a data file's rule)."""
        reason = Reason(because, source)
        if reason not in self.expectation.reasons:
            self.expectation.reasons.append(reason)

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
        value = self.machine.knobs.get(knob) if knob else None
        if value is not None and value.strip().isdigit():
            return int(bool(int(value)))
        return int(fact.value)

    def v6only(self, setting: str | None, proto: str, failure: str) -> int:
        """The IPV6_V6ONLY a socket ends up with after the catalogue setting is applied."""
        value = v6only(setting).value_set
        if value is None:
            return self.default_v6only(proto)
        allowed = self.fact("v6only_values")
        if value not in allowed.value:
            self.fail(failure, kind=UNSUPPORTED, errno=allowed.get("errno"))
        self.rule("v6only-reads-back")
        return value


# --- preconditions ------------------------------------------------------------------

def require(r: Reasoning, *, ipv6_socket: bool = False, ipv4: bool = False) -> None:
    """Turn a missing precondition on this machine into unsupported."""
    if ipv6_socket and not r.machine.af_inet6:
        r.rule("af-inet6-missing")
        r.fail(Outcome.UNSUPPORTED, kind=UNSUPPORTED)
    if ipv4 and not r.machine.has_ipv4:
        r.rule("ipv4-missing")
        r.fail(Outcome.UNSUPPORTED, kind=UNSUPPORTED)


# --- steps shared by the families --------------------------------------------------

def ipv6_bind(r: Reasoning, address: str, setting: str | None, proto: str) -> int:
    """An AF_INET6 socket given the v6only setting and bound to address: its v6only,
    or a documented failure to set the option or to bind."""
    value = r.v6only(setting, proto, Outcome.OPTION_ERROR)
    r.expect("v6only_set", value)
    if address == "::ffff:127.0.0.1":
        if not r.fact("mapped_supported").value:
            r.fail(Outcome.BIND_ERROR, "bind_mapped_on_v6only", kind=UNSUPPORTED)
        if value:
            r.rule("v6only-blocks-mapped-bind")
            r.fail(Outcome.BIND_ERROR, "bind_mapped_on_v6only")
    if address == "::1" and not r.machine.has_ipv6:
        r.rule("ipv6-loopback-missing")
        r.fail(Outcome.BIND_ERROR, "bind_missing_address")
    return value


def connect_failure(errno: Fact | None) -> tuple[str, ...] | str:
    """The outcome(s) of a failed TCP connect, from the documented errno if trusted."""
    if errno is None or not errno.asserted:
        return (Outcome.UNREACHABLE, Outcome.CONNECT_ERROR)
    return Outcome.UNREACHABLE if errno.value in UNREACHABLE_ERRNOS else Outcome.CONNECT_ERROR
