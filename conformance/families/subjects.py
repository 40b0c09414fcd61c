"""subjects: real servers (asyncio, http.server, uvicorn, Go, Node, ...) started as their
users start them and probed from IPv4, IPv4-mapped and IPv6 clients.

Its scenarios (conformance/data/subjects.toml), what a platform documents for them,
the observation (the server runner in conformance/subjects/), and the snippet that
reproduces it.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from conformance import ports, subjects
from conformance.datafiles import load_toml
from conformance.families import coexist
from conformance.machine import Machine
from conformance.observation import Observation
from conformance.platform_model import UNREACHABLE_ERRNOS, Platform, Reasoning, Stop, Unknown
from conformance.scenario import Scenario
from conformance.vocabulary import Outcome

NAME = "subjects"


@cache  # read for every subject cell, in every documented column too; the file does not change
def specs() -> tuple[dict[str, Any], ...]:
    return tuple(load_toml("subjects.toml")["subject"])


def scenarios() -> Iterator[Scenario]:
    for spec in specs():
        yield Scenario.of(NAME, proto="tcp", server=spec["server"], setup=spec["setup"])


def spec_of(scenario: Scenario) -> dict[str, Any]:
    return next(s for s in specs() if s["server"] == scenario["server"] and s["setup"] == scenario["setup"])


# --- what a platform documents ---------------------------------------------------------

def expect(s: Scenario, r: Reasoning) -> None:
    """Derived from the sockets the server opens and the IPV6_V6ONLY it sets (its source,
    in conformance/data/subjects.toml) and from what the platform documents: its
    default, the values it accepts, IPv4-mapped addresses, and its coexistence rules."""
    spec = spec_of(s)
    for source in [spec["source"], *spec.get("also", [])]:
        r.reason(spec["because"], source)
    if "sockets" not in spec:
        raise Unknown("the subject documents nothing")
    if not (r.machine.af_inet6 and r.machine.has_ipv6):
        raise Unknown("the subjects are documented for machines with IPv6 on loopback")
    mapped = bool(r.fact("mapped_supported").value)
    sockets = spec["without_mapped"] if "without_mapped" in spec and not mapped else spec["sockets"]
    v6only = server_v6only(r, spec, s.proto)
    clients: dict[str, str]
    if sockets == "one-ipv4":
        clients = {"ipv4": Outcome.OK, "ipv6": Outcome.REFUSED}
    elif sockets == "one-ipv6":
        clients = {"ipv4": Outcome.OK if v6only == 0 and mapped else Outcome.REFUSED, "ipv6": Outcome.OK}
    else:
        if not both_sockets_serve(r, spec, v6only):
            r.fail(Outcome.START_ERROR)
        clients = {"ipv4": Outcome.OK, "ipv6": Outcome.OK}
    client_default = r.default_v6only(s.proto)
    if client_default == 0:
        clients["mapped"] = clients["ipv4"]
    else:  # the mapped client, left at the default, is v6-only itself
        fact = r.maybe_fact("connect_mapped_from_v6only")
        if fact is not None and fact.asserted:
            clients["mapped"] = (Outcome.UNREACHABLE if fact.value in UNREACHABLE_ERRNOS
                                 else f"error:{fact.value}")
    r.expectation.outcome = (Outcome.OK,)
    r.expect("clients", clients)


def server_v6only(r: Reasoning, spec: dict[str, Any], proto: str) -> int:
    """The IPV6_V6ONLY the server's AF_INET6 socket ends up with; a value the platform
    refuses either stops the server or leaves the default, as the server documents."""
    default = r.default_v6only(proto)
    wanted = spec.get("sets_v6only", "default")
    if wanted == "default":
        return default
    if wanted not in r.fact("v6only_values").value:
        if spec.get("on_v6only_refused") == "fatal":
            r.fail(Outcome.START_ERROR)
        return default
    return int(wanted)


def both_sockets_serve(r: Reasoning, spec: dict[str, Any], v6only: int) -> bool:
    """Do a server's AF_INET socket on 0.0.0.0 and AF_INET6 socket on :: share its port,
    by the platform's coexistence rules? Unknown when they do not decide, or when the
    order is getaddrinfo's (undocumented) and the two orders disagree."""
    os = r.platform.os if r.platform is not None else ""
    reuse = spec.get("reuse", "none")
    option = str(reuse.get(os, reuse["default"]) if isinstance(reuse, dict) else reuse)
    orders = ["ipv4-first", "ipv6-first"] if spec["order"] == "getaddrinfo" else [spec["order"]]
    answers = {pair_serves(r, coexist.Pair("tcp", "0.0.0.0", "::", v6only, option, order)) for order in orders}
    if len(answers) > 1:
        raise Unknown("the sockets' order is getaddrinfo's, and the two orders differ")
    return answers.pop()


def pair_serves(r: Reasoning, pair: coexist.Pair) -> bool:
    """True when both sockets bind and listen, False at a documented conflict."""
    step = Reasoning(r.platform, r.machine)
    try:
        coexist.pair(step, pair)
    except Stop:
        pass
    finally:
        for reason in step.expectation.reasons:
            r.reason(reason.because, reason.source)
        if step.expectation.confidence == "low":
            r.expectation.confidence = "low"
    if step.expectation.outcome == (Outcome.OK,):
        return True
    if step.expectation.outcome in ((Outcome.BIND_ERROR,), (Outcome.LISTEN_ERROR,)):
        return False
    raise Unknown("the platform documents the binds, not the listens")


# --- the observation --------------------------------------------------------------------

def observe(scenario: Scenario, machine: Machine, platform: Platform | None) -> Observation:
    spec = spec_of(scenario)
    if machine.os not in spec.get("platforms", [machine.os]):
        return Observation(outcome=Outcome.UNSUPPORTED, stage="precondition",
                           notes=[f"{spec['server']} does not run on {machine.os}"])
    with ports.free() as port:
        try:
            command = subjects.command_for(spec["command"], port, spec.get("needs", []))
        except subjects.Unavailable as exc:
            return Observation(outcome=Outcome.UNSUPPORTED, stage="precondition", notes=[str(exc)])
        run = subjects.run_subject(command, port, spec.get("http", False))
    return Observation(outcome=run.outcome, clients=run.clients or None, listeners=run.listeners or None,
                       notes=run.notes)


# --- the reproducer ---------------------------------------------------------------------

SUBJECT_TOOLS = {"{python}": "python", "{go}": "go run conformance/subjects/listen.go",
                 "{node}": "node", "{here}/": "conformance/subjects/"}


def reproducer(s: Scenario) -> str:
    spec = spec_of(s)
    command = " ".join(spec["command"]).replace("{port}", "8080")
    for token, tool in SUBJECT_TOOLS.items():
        command = command.replace(token, tool)
    return ("# start the server in another terminal, as its users do:\n"
            f"#   {command}\n"
            "import socket\n"
            "for family, host in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::ffff:127.0.0.1'),\n"
            "                     (socket.AF_INET6, '::1')):\n"
            "    with socket.socket(family) as s:\n"
            "        s.settimeout(5)\n"
            "        print(host, 'ok' if s.connect_ex((host, 8080)) == 0 else 'refused or failed')\n")
